// berthd's side of berth-monitor (docs/monitor.md): start one, talk to its control socket, read its exit file.
export { MonitorClient, type MonitorState } from './client.ts';
export { type ExitRecord, parseExit, readExit } from './exit-file.ts';
export { type MonitorOptions, monitorArgs, monitorBinary, type StartedMonitor, startMonitor, WaitingMonitor } from './start.ts';
