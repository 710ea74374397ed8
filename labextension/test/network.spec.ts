// @vitest-environment happy-dom
/**
 * The network part of the side panel: off or on with its rules, the recent connection attempts
 * newest first with bytes or the refusal's reason, rows kept per attempt across polls.
 */
import { nullTranslator } from '@jupyterlab/translation';
import { describe, expect, it } from 'vitest';

import * as api from '../src/api';
import {
  connectionTarget,
  NetworkSection,
  recentConnections,
  SHOWN_CONNECTIONS
} from '../src/network';

const trans = nullTranslator.load('jupyter_sandbox');

function policy(enabled: boolean, extra: Partial<api.INetworkPolicy> = {}): api.INetworkPolicy {
  return {
    enabled,
    allow: ['127.0.0.1:8080', '*.example.com'],
    deny: ['secret.example.com'],
    max_connections: 64,
    max_bytes_per_cell: 1 << 30,
    max_bytes_per_sandbox: 8 * (1 << 30),
    connect_timeout: 30,
    ca_bundle: null,
    inject_headers: [],
    ...extra
  };
}

function record(n: number, allowed = true): api.IConnectionRecord {
  return {
    host: 'localhost',
    address: '127.0.0.1',
    port: 8080,
    allowed,
    reason: allowed ? "allow rule '127.0.0.1:8080'" : "deny rule 'secret.example.com'",
    bytes_sent: 119,
    bytes_received: 2048,
    started_at: 1000 + n,
    ended_at: 1001 + n,
    tls: false
  };
}

function network(
  enabled: boolean,
  connections: api.IConnectionRecord[],
  extra: Partial<api.INetworkPolicy> = {}
): api.ISandboxNetwork {
  return { policy: policy(enabled, extra), connections, open_connections: 0, bytes: 0 };
}

describe('NetworkSection', () => {
  it('says the network is off and how to turn it on', () => {
    const section = new NetworkSection(trans);
    section.update(network(false, []));
    const state = section.node.querySelector('.jp-SandboxPanel-networkState')!;
    expect(state.textContent).toContain('Off');
    expect(state.textContent).toContain('SandboxKernel.network = True');
    expect(section.node.querySelector<HTMLElement>('.jp-SandboxPanel-networkRules')!.hidden).toBe(
      true
    );
    section.update(undefined); // a kernel that reports no network: off as well
    expect(state.textContent).toContain('Off');
  });

  it('shows the rules, limits and connections, newest first', () => {
    const section = new NetworkSection(trans);
    section.update(network(true, [record(1), record(2, false)]));
    const value = (key: string) =>
      section.node.querySelector(`[data-network="${key}"]`)!.textContent;
    expect(value('allow')).toBe('127.0.0.1:8080, *.example.com');
    expect(value('deny')).toBe('secret.example.com');
    expect(value('limits')).toBe('64 connections at once, 1 GiB per cell');
    const rows = [...section.node.querySelectorAll<HTMLElement>('.jp-SandboxPanel-connection')];
    expect(rows.map(row => row.classList.contains('jp-mod-refused'))).toEqual([true, false]);
    expect(rows[0].textContent).toContain("deny rule 'secret.example.com'");
    expect(rows[0].textContent).toContain('refused');
    expect(rows[1].textContent).toContain('localhost:8080 (127.0.0.1)');
    expect(rows[1].textContent).toContain('↑ 119 B ↓ 2 KiB');
    expect(rows[1].title).toBe("allow rule '127.0.0.1:8080'");
  });

  it('says when the API narrowed the policy, and when nothing connected yet', () => {
    const section = new NetworkSection(trans);
    section.update(network(true, [], { allow: [], administrator: policy(true) }));
    expect(section.node.querySelector('.jp-SandboxPanel-networkState')!.textContent).toContain(
      'changed through the API'
    );
    expect(section.node.querySelector('[data-network="allow"]')!.textContent).toBe(
      'every public address'
    );
    const empty = section.node.querySelector<HTMLElement>(
      '.jp-SandboxPanel-connections .jp-SandboxPanel-empty'
    )!;
    expect(empty.hidden).toBe(false);
    expect(empty.textContent).toBe('No connections yet.');
  });

  it('keeps the rows of attempts still listed and drops the oldest', () => {
    const section = new NetworkSection(trans);
    const many = Array.from({ length: SHOWN_CONNECTIONS }, (_, i) => record(i));
    section.update(network(true, many));
    const newest = section.node.querySelector('.jp-SandboxPanel-connection')!;
    const rows = () => section.node.querySelectorAll('.jp-SandboxPanel-connection');
    expect(rows().length).toBe(SHOWN_CONNECTIONS);
    section.update(network(true, [...many, record(SHOWN_CONNECTIONS, false)]));
    expect(rows().length).toBe(SHOWN_CONNECTIONS);
    expect(rows()[1]).toBe(newest);
    expect(rows()[0].classList.contains('jp-mod-refused')).toBe(true);
  });
});

describe('helpers', () => {
  it('names targets and keeps the newest attempts', () => {
    expect(connectionTarget({ ...record(1), host: '::1', address: '::1' })).toBe('[::1]:8080');
    expect(connectionTarget({ ...record(1), address: null })).toBe('localhost:8080');
    const list = Array.from({ length: 30 }, (_, i) => record(i));
    const recent = recentConnections(network(true, list));
    expect(recent.length).toBe(SHOWN_CONNECTIONS);
    expect(recent[0].started_at).toBe(1029);
    expect(recentConnections(undefined)).toEqual([]);
  });
});
