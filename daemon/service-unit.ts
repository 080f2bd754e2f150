// berthd as a systemd service: `npm run install-service` writes the unit and starts it,
// `npm run uninstall-service` stops and removes it. Settings follow containerd's own unit: the
// monitors (and so the containers) are left running when berthd stops or restarts
// (KillMode=process), berthd may manage cgroups below its own (Delegate), and no limit of the
// host's cuts its containers short (tasks, files, memory locks).
//
//   node daemon/service-unit.ts install|uninstall|print [--unit-dir DIR] [--no-start]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const unitName = 'berthd.service';

/** The unit for the berthd at `berthdPath`. */
export function unitText(berthdPath: string): string {
  return `[Unit]
Description=berth container runtime daemon (containerd-compatible)
Documentation=file://${resolve(dirname(berthdPath), '..', 'README.md')}
After=network.target local-fs.target

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=${berthdPath}
Type=simple
# containers outlive berthd: only berthd itself is stopped, never its monitors
KillMode=process
Delegate=yes
Restart=always
RestartSec=2
OOMScoreAdjust=-999
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=infinity
TasksMax=infinity

[Install]
WantedBy=multi-user.target
`;
}

function systemdRuns(): boolean {
  return existsSync('/run/systemd/system');
}

function systemctl(...args: string[]): void {
  const r = spawnSync('systemctl', args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`systemctl ${args.join(' ')} failed (status ${r.status})`);
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  const dirAt = rest.indexOf('--unit-dir');
  const unitDir = dirAt >= 0 ? rest[dirAt + 1] : '/etc/systemd/system';
  if (!unitDir) throw new Error('--unit-dir needs a directory');
  const start = !rest.includes('--no-start') && systemdRuns();
  const berthd = resolve(import.meta.dirname, '..', 'bin', 'berthd');
  const path = join(unitDir, unitName);
  switch (command) {
    case 'print':
      process.stdout.write(unitText(berthd));
      return;
    case 'install': {
      mkdirSync(unitDir, { recursive: true });
      const text = unitText(berthd);
      if (!existsSync(path) || readFileSync(path, 'utf8') !== text) {
        writeFileSync(`${path}.tmp`, text, { mode: 0o644 });
        renameSync(`${path}.tmp`, path);
      }
      process.stdout.write(`wrote ${path}\n`);
      if (start) {
        systemctl('daemon-reload');
        systemctl('enable', '--now', unitName);
      } else if (!rest.includes('--no-start')) {
        process.stdout.write('systemd is not running here: start berthd yourself (see the README)\n');
      }
      return;
    }
    case 'uninstall':
      if (start && existsSync(path)) systemctl('disable', '--now', unitName);
      rmSync(path, { force: true });
      if (start) systemctl('daemon-reload');
      process.stdout.write(`removed ${path}\n`);
      return;
    default:
      throw new Error('usage: node daemon/service-unit.ts install|uninstall|print [--unit-dir DIR] [--no-start]');
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`service-unit: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
