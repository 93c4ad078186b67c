import { open } from 'lmdb';
import koffi from 'koffi';
import { createRtNetlink } from 'netlink';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
const db = open({ path: '/tmp/lmdbtest', compression: false });
await db.put('a', { x: 1 }); console.log('lmdb', db.get('a'), db.getEntry('a'));
const libc = koffi.load('libc.so.6');
const setns = libc.func('int setns(int fd, int nstype)');
const socket = libc.func('int socket(int, int, int)');
const bind = libc.func('int bind(int, const void *, uint32_t)');
execFileSync('ip', ['netns', 'add', 'tsdprobe1']);
try {
  const self = fs.openSync('/proc/thread-self/ns/net', 'r');
  const tgt = fs.openSync('/run/netns/tsdprobe1', 'r');
  if (setns(tgt, 0x40000000) !== 0) throw new Error('setns');
  const nl = createRtNetlink();
  // UDP socket fd on 127.0.0.1:5353 (lo is down in new ns, so bring lo up through nl)
  const fd = socket(2, 2 | 0o4000 | 0o2000000, 0);
  const sa = Buffer.alloc(16); sa.writeUInt16LE(2, 0); sa.writeUInt16BE(5353, 2); sa.writeUInt32BE(0x7f00000b, 4);
  const rc = bind(fd, sa, 16);
  setns(self, 0x40000000);
  console.log('fd', fd, 'bind', rc, koffi.errno());
  const links = await nl.getLinks();
  console.log('links in ns', links.map(l => l.attrs.ifname));
  const lo = links.find(l => l.attrs.ifname === 'lo');
  await nl.setLink({ index: lo.data.index, flags: { up: true }, change: { up: true } }, {});
  const s = dgram.createSocket('udp4');
  s.bind({ fd }, () => { console.log('dgram addr', s.address());
    s.on('message', (m, r) => { console.log('got', m.toString(), r); s.close(); nl.socket?.close?.(); });
    const out = execFileSync('ip', ['netns', 'exec', 'tsdprobe1', 'sh', '-c', 'echo hi | timeout 2 nc -u -w1 127.0.0.11 5353 ; ss -uln']); console.log(out.toString());
  });
  await new Promise(r => s.on('close', r));
  console.log('host ss', execFileSync('ss', ['-uln']).toString().includes('5353'));
} finally { execFileSync('ip', ['netns', 'del', 'tsdprobe1']); }
process.exit(0)
