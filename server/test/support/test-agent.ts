/** A real device agent (worker threads, vm sandboxes) in the test process, connected to a test hub. */
import { Agent } from '../../src/agent/agent.ts';

/** `hubUrl`: one hub, or several of one network (the devices fail over from one to the next). */
export function startTestAgent(hubUrl: string | string[], options: { devices?: number; threads?: number; name?: string } = {}): Agent {
  const devices = options.devices ?? 1;
  const name = options.name ?? 'test agent';
  const agent = new Agent({
    config: { hubUrls: Array.isArray(hubUrl) ? hubUrl : [hubUrl], threads: options.threads ?? 2, devices, name, memoryMb: 128 },
    deviceIds: Array.from({ length: devices }, (_, k) => `${name.replace(/\W+/g, '_')}_${k}_${Math.random().toString(36).slice(2, 10)}`),
    log: () => {},
    onFatal: () => {},
    reconnectDelayMs: 100,
    reconnectDelayMaxMs: 500,
  });
  agent.start();
  return agent;
}
