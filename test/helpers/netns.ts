// The project's own test hosts on one machine: network namespaces (iproute2) joined by veth pairs
// to a bridge in a namespace of its own, like machines on a switch. The test process (the root
// namespace) has a leg on the bridge too, to talk to every host.
//
// Links are spoiled in the kernel: packet loss and cuts are nftables rules in a host's namespace
// (`numgen random` drops, or drop everything: a black hole, no RST). Delay is sch_netem's where the
// kernel has it; where it has not (sandboxes with a trimmed module set), connections to a node are
// steered by DNAT through a delay line (delay-line.ts) running in a namespace of its own.

import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type HostName = 'proxy' | 'node1' | 'node2' | 'delay';
const HOSTS: readonly HostName[] = ['proxy', 'node1', 'node2', 'delay'];
const SHORT: Record<HostName, string> = { proxy: 'px', node1: 'n1', node2: 'n2', delay: 'dl' };
const LAST_OCTET: Record<HostName, number> = { proxy: 10, node1: 11, node2: 12, delay: 20 };

const DELAY_LINE = fileURLToPath(new URL('./delay-line.js', import.meta.url));

function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why network namespaces cannot be used here (undefined: they can). */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['nft', 'nftables']] as const) {
    try {
      run(cmd, ['-V']);
    } catch {
      return `${cmd} is not installed (apt-get install ${pkg})`;
    }
  }
  const probe = `brprobe${process.pid % 100000}`;
  try {
    run('ip', ['netns', 'add', probe]);
  } catch (err) {
    return `cannot create a network namespace: ${(err as Error).message.split('\n')[0]}`;
  }
  try {
    run('ip', ['netns', 'exec', probe, 'nft', 'add', 'table', 'inet', 'probe']);
  } catch {
    return 'nftables does not work in a network namespace here';
  } finally {
    run('ip', ['netns', 'del', probe]);
  }
  return undefined;
}

export class TestNet {
  private readonly tag: string;
  /** 10.213.<n>: one /24 per test run. */
  private readonly subnet: string;
  private readonly delayLines: ChildProcess[] = [];
  readonly netem: boolean;

  constructor() {
    this.tag = `br${process.pid % 100000}`;
    this.subnet = `10.213.${(process.pid % 250) + 1}`;
    try {
      this.build();
    } catch (err) {
      this.destroy();
      throw err;
    }
    this.netem = this.hasNetem();
  }

  ns(host: HostName): string {
    return `${this.tag}${SHORT[host]}`;
  }

  address(host: HostName): string {
    return `${this.subnet}.${LAST_OCTET[host]}`;
  }

  /** The command prefix that runs a program on `host`. */
  prefix(host: HostName): string[] {
    return ['ip', 'netns', 'exec', this.ns(host)];
  }

  exec(host: HostName, cmd: string, ...args: string[]): string {
    return run('ip', ['netns', 'exec', this.ns(host), cmd, ...args]);
  }

  private build(): void {
    const sw = `${this.tag}sw`;
    run('ip', ['netns', 'add', sw]);
    run('ip', ['netns', 'exec', sw, 'ip', 'link', 'add', 'br0', 'type', 'bridge']);
    run('ip', ['netns', 'exec', sw, 'ip', 'link', 'set', 'br0', 'up']);
    // The test process's leg.
    const rootLeg = `${this.tag}rt`;
    run('ip', ['link', 'add', rootLeg, 'type', 'veth', 'peer', 'name', `${rootLeg}s`, 'netns', sw]);
    run('ip', ['netns', 'exec', sw, 'ip', 'link', 'set', `${rootLeg}s`, 'master', 'br0', 'up']);
    run('ip', ['addr', 'add', `${this.subnet}.1/24`, 'dev', rootLeg]);
    run('ip', ['link', 'set', rootLeg, 'up']);
    for (const host of HOSTS) {
      const ns = this.ns(host);
      const leg = `${ns}e`;
      run('ip', ['netns', 'add', ns]);
      run('ip', ['link', 'add', leg, 'type', 'veth', 'peer', 'name', `${leg}s`, 'netns', sw]);
      run('ip', ['link', 'set', leg, 'netns', ns]);
      run('ip', ['netns', 'exec', sw, 'ip', 'link', 'set', `${leg}s`, 'master', 'br0', 'up']);
      this.exec(host, 'ip', 'addr', 'add', `${this.address(host)}/24`, 'dev', leg);
      this.exec(host, 'ip', 'link', 'set', leg, 'up');
      this.exec(host, 'ip', 'link', 'set', 'lo', 'up');
    }
  }

  private hasNetem(): boolean {
    try {
      this.exec('delay', 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms');
      this.exec('delay', 'tc', 'qdisc', 'del', 'dev', 'lo', 'root');
      return true;
    } catch {
      return false;
    }
  }

  /** Drops `percent` % of the packets `host` sends and receives. */
  loss(host: HostName, percent: number): void {
    this.filter(host, `numgen random mod 100 < ${percent} drop`);
  }

  /** Cuts `host` off: every packet in or out is dropped (a black hole; nothing is refused). */
  cut(host: HostName): void {
    this.filter(host, 'ip saddr != 127.0.0.0/8 drop');
  }

  /** Takes back loss and cuts. */
  heal(host: HostName): void {
    try {
      this.exec(host, 'nft', 'delete', 'table', 'inet', 'spoil');
    } catch {
      // nothing to take back
    }
  }

  private filter(host: HostName, rule: string): void {
    this.heal(host);
    const ruleset = `table inet spoil {
      chain in { type filter hook input priority 0; ${rule}; }
      chain out { type filter hook output priority 0; ${rule}; }
    }`;
    execFileSync('ip', ['netns', 'exec', this.ns(host), 'nft', '-f', '-'], { input: ruleset });
  }

  /**
   * Puts `delayMs` each way between the proxy and `node` (listening on `port`) for connections
   * opened from now on: netem on the node's leg where the kernel has it, else a delay line.
   */
  async delay(node: 'node1' | 'node2', port: number, delayMs: number): Promise<void> {
    if (this.netem) {
      this.exec(node, 'tc', 'qdisc', 'add', 'dev', `${this.ns(node)}e`, 'root', 'netem', 'delay', `${delayMs * 2}ms`);
      return;
    }
    const line = fork(DELAY_LINE, [this.address('delay'), String(port), this.address(node), String(delayMs)], {
      execPath: 'ip',
      execArgv: ['netns', 'exec', this.ns('delay'), process.execPath],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.delayLines.push(line);
    await new Promise<void>((resolve, reject) => {
      line.once('message', () => resolve());
      line.once('exit', (code) => reject(new Error(`delay line exited with ${code}`)));
    });
    const table = `table ip steer {
      chain out { type nat hook output priority -100; ip daddr ${this.address(node)} tcp dport ${port} dnat to ${this.address('delay')}:${port}; }
    }`;
    execFileSync('ip', ['netns', 'exec', this.ns('proxy'), 'nft', '-f', '-'], { input: table.replace('table ip steer', `table ip steer${node}`) });
  }

  destroy(): void {
    for (const l of this.delayLines) l.kill('SIGKILL');
    for (const name of [...HOSTS.map((h) => this.ns(h)), `${this.tag}sw`]) {
      try {
        run('ip', ['netns', 'del', name]);
      } catch {
        // not made
      }
    }
    // The root leg goes with its peer.
  }
}
