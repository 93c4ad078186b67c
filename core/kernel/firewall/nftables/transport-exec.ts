// core/kernel/firewall/nftables/transport-exec.ts — nft commands through a spawned `nft -f FILE`
// (fallback when libnftables cannot be loaded, and the bench's peer). A file, not stdin: nft
// 1.0.6 reopens /dev/stdin, which fails on Node's socketpair stdio (toolchain.md §4).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCommand } from '../../exec.js';
import { nftError, type NftTransport } from './transport.js';
import { firstWords } from './transport-libnftables.js';

export class ExecNftTransport implements NftTransport {
  readonly kind = 'exec' as const;
  private dir: string | undefined;
  private seq = 0;

  constructor(private readonly nftPath = 'nft') {}

  async run(commands: string): Promise<string> {
    this.dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'tsd-nft-'));
    const file = path.join(this.dir, `batch-${process.pid}-${this.seq++}.nft`);
    fs.writeFileSync(file, commands);
    try {
      const r = await runCommand(this.nftPath, ['-f', file]);
      if (r.exitCode !== 0) throw nftError(firstWords(commands), r.stderr || r.message || 'nft failed');
      return r.stdout;
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  close(): void {
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }
}
