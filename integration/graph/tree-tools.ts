// integration/graph/tree-tools.ts — independent helpers for the graph driver tests: a tree walker
// and fixture builder written in Python (os.lstat, os.listxattr, hashlib), so what we check does
// not go through the code under test. GNU tar and findmnt are used the same way.

import { execa } from 'execa';
import type { Readable } from 'node:stream';

const WALK = String.raw`
import os, sys, stat, hashlib
root = sys.argv[1]
keep_overlay = {'trusted.overlay.opaque'}
rows, inodes = [], {}
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        kind = stat.S_IFMT(st.st_mode)
        extra = ''
        if stat.S_ISREG(kind):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in inodes:
                extra = 'hardlink-to=' + inodes[key]
            else:
                inodes[key] = rel
                extra = 'sha256=' + hashlib.sha256(open(p, 'rb').read()).hexdigest()
            extra += ' nlink=%d' % st.st_nlink
        elif stat.S_ISLNK(kind):
            extra = 'target=' + os.readlink(p)
        elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
            extra = 'dev=%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev))
        try:
            names = sorted(n for n in os.listxattr(p, follow_symlinks=False) if not n.startswith('trusted.overlay.') or n in keep_overlay)
        except OSError:
            names = []
        xs = ','.join('%s=%s' % (n, os.getxattr(p, n, follow_symlinks=False).hex()) for n in names)
        mtime = st.st_mtime_ns
        rows.append('%s type=%o mode=%o uid=%d gid=%d mtime=%d %s xattrs=[%s]' % (rel, kind >> 12, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, mtime, extra, xs))
print('\n'.join(sorted(rows)))
`;

/** One line per entry below `dir` (type, mode, owner, mtime in ns, content hash or link, xattrs). */
export async function snapshotTree(dir: string): Promise<string[]> {
  const r = await execa('python3', ['-c', WALK, dir]);
  return r.stdout.split('\n').filter(Boolean);
}

const BUILD = String.raw`
import os, sys
root = sys.argv[1]
def w(p, data, mode=0o644, uid=0, gid=0):
    full = os.path.join(root, p)
    with open(full, 'wb') as f: f.write(data)
    os.chown(full, uid, gid); os.chmod(full, mode)
os.makedirs(os.path.join(root, 'etc/conf.d'))
os.makedirs(os.path.join(root, 'usr/bin'))
os.makedirs(os.path.join(root, 'var/empty'))
os.makedirs(os.path.join(root, 'opt/app/data'))
w('etc/passwd', b'root:x:0:0::/root:/bin/sh\n')
w('etc/conf.d/a.conf', b'a=1\n' * 100, 0o640, 1000, 1000)
w('etc/shadow', b'secret\n', 0o600)
w('usr/bin/tool', os.urandom(300000), 0o4755)
os.link(os.path.join(root, 'usr/bin/tool'), os.path.join(root, 'usr/bin/tool-alias'))
os.symlink('/usr/bin/tool', os.path.join(root, 'usr/bin/sh'))
os.symlink('../etc/passwd', os.path.join(root, 'usr/passwd-link'))
w('opt/app/data/big.bin', os.urandom(2 * 1024 * 1024 + 17))
w('opt/app/data/empty', b'')
w('opt/app/run.sh', b'#!/bin/sh\necho hi\n', 0o755, 1234, 5678)
os.setxattr(os.path.join(root, 'opt/app/run.sh'), 'user.tsd.test', b'\x00\x01value')
os.setxattr(os.path.join(root, 'usr/bin/tool'), 'security.capability', bytes.fromhex('0100000200200000000000000000000000000000'))
os.setxattr(os.path.join(root, 'opt/app'), 'user.dirattr', b'd')
os.mknod(os.path.join(root, 'var/null'), 0o666 | 0o020000, os.makedev(1, 3))
os.mknod(os.path.join(root, 'var/fifo'), 0o600 | 0o010000)
os.chmod(os.path.join(root, 'var/empty'), 0o1777)
os.chown(os.path.join(root, 'opt/app/data'), 33, 33)
w('space name ü', b'unicode\n')
long = 'd' * 120 + '/' + 'e' * 120
os.makedirs(os.path.join(root, long))
w(long + '/f' * 1, b'long path\n')
`;

/** Build a tree exercising everything a layer can hold (as root). */
export async function buildFixtureTree(dir: string): Promise<void> {
  await execa('python3', ['-c', BUILD, dir]);
  await wholeSecondTimes(dir);
}

const TIMES = String.raw`
import os, sys
root, t = sys.argv[1], int(sys.argv[2])
paths = []
for dirpath, dirs, files in os.walk(root):
    for n in dirs + files: paths.append(os.path.join(dirpath, n))
# deepest first, so a directory's time is set after its children are touched
for i, p in enumerate(sorted(paths, key=lambda p: -p.count('/'))):
    os.utime(p, ns=((t + i) * 10**9, (t + i) * 10**9), follow_symlinks=False)
`;

/** Give every entry a distinct whole-second mtime (tar stores seconds, as Docker does). */
export async function wholeSecondTimes(dir: string, base = 1_600_000_000): Promise<void> {
  await execa('python3', ['-c', TIMES, dir, String(base)]);
}

/** Run a Python snippet with `root` as sys.argv[1] (for changes made through a mount). */
export async function py(code: string, root: string): Promise<void> {
  await execa('python3', ['-c', 'import os, sys, shutil\nroot = sys.argv[1]\n' + code, root]);
}

export interface FindMnt { target: string; fstype: string; options: string }
export async function findmnt(target: string): Promise<FindMnt | undefined> {
  const r = await execa('findmnt', ['-J', '-o', 'TARGET,FSTYPE,OPTIONS', '--mountpoint', target], { reject: false });
  if (r.exitCode !== 0) return undefined;
  return (JSON.parse(r.stdout) as { filesystems: FindMnt[] }).filesystems[0];
}

/** Everything a stream yields (a layer's Diff tar), as one buffer. */
export async function streamToBuffer(s: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of s) out.push(c as Buffer);
  return Buffer.concat(out);
}
