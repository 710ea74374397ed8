/**
 * The network part of the sandbox side panel: whether the network is on, the allow and deny
 * rules and limits in force, and the recent connection attempts (host, port, allowed or
 * refused and why, bytes each way), from ``status.network`` of every status poll. Updated in
 * place like the rest of the panel (``dom.ts``).
 */
import { TranslationBundle } from '@jupyterlab/translation';

import * as api from './api';
import { el, IKeyedRow, KeyedList, setAttribute, setClass, setHidden, setText } from './dom';
import { formatBytes } from './format';

/** Connection attempts the panel lists, newest first. */
export const SHOWN_CONNECTIONS = 20;

interface IConnectionRow extends IKeyedRow {
  verdict: HTMLElement;
  detail: HTMLElement;
}

/** One attempt's id while it is listed: when it started, where to. */
export function connectionKey(record: api.IConnectionRecord): string {
  return `${record.started_at}:${record.host}:${record.port}:${record.address ?? ''}`;
}

/** "host:port", and the address it went to when that is not the host itself. */
export function connectionTarget(record: api.IConnectionRecord): string {
  const host = record.host.includes(':') ? `[${record.host}]` : record.host;
  const target = `${host}:${record.port}`;
  return record.address && record.address !== record.host
    ? `${target} (${record.address})`
    : target;
}

/** The last ``SHOWN_CONNECTIONS`` attempts, newest first (the server keeps newest last). */
export function recentConnections(
  network: api.ISandboxNetwork | undefined
): api.IConnectionRecord[] {
  return (network?.connections ?? []).slice(-SHOWN_CONNECTIONS).reverse();
}

export class NetworkSection {
  readonly node: HTMLElement;

  constructor(private _trans: TranslationBundle) {
    const trans = _trans;
    this.node = el('section', 'jp-SandboxPanel-section jp-SandboxPanel-network');
    this._state = el('p', 'jp-SandboxPanel-networkState');
    const rules = el('dl', 'jp-SandboxPanel-limits jp-SandboxPanel-networkRules');
    const term = (key: string, label: string): HTMLElement => {
      const value = el('dd');
      value.dataset.network = key;
      rules.append(el('dt', '', label), value);
      return value;
    };
    this._allow = term('allow', trans.__('Allow'));
    this._deny = term('deny', trans.__('Deny'));
    this._limits = term('limits', trans.__('Limits'));
    this._rules = rules;
    const list = el('ul', 'jp-SandboxPanel-connections');
    this._connectionsHeader = el('h4', '', trans.__('Recent connections'));
    this.node.append(
      el('h3', '', trans.__('Network')),
      this._state,
      rules,
      this._connectionsHeader,
      list
    );
    this._connections = new KeyedList<api.IConnectionRecord, IConnectionRow>({
      container: list,
      placeholderClass: 'jp-SandboxPanel-empty',
      key: connectionKey,
      create: record => {
        const node = el('li', 'jp-SandboxPanel-connection');
        const verdict = el('span', 'jp-SandboxPanel-tag');
        const detail = el('span', 'jp-SandboxPanel-snapshotMeta');
        node.append(el('code', 'jp-SandboxPanel-connectionTarget', connectionTarget(record)));
        node.append(verdict, detail);
        return { node, verdict, detail };
      },
      update: (row, record) => {
        setText(row.verdict, record.allowed ? trans.__('allowed') : trans.__('refused'));
        setClass(row.node, 'jp-mod-refused', !record.allowed);
        setText(
          row.detail,
          record.allowed
            ? trans.__(
                '↑ %1 ↓ %2%3',
                formatBytes(record.bytes_sent),
                formatBytes(record.bytes_received),
                record.tls ? ' · TLS' : ''
              )
            : record.reason
        );
        setAttribute(row.node, 'title', record.reason);
      }
    });
  }

  /** Show ``network`` (undefined: a kernel too old to report it, shown as off). */
  update(network: api.ISandboxNetwork | undefined): void {
    const trans = this._trans;
    const policy = network?.policy;
    const on = policy?.enabled === true;
    setClass(this.node, 'jp-mod-on', on);
    setText(
      this._state,
      on
        ? policy.administrator
          ? trans.__('On (changed through the API, within the administrator’s policy)')
          : trans.__('On')
        : trans.__('Off: the administrator can turn it on (SandboxKernel.network = True)')
    );
    setHidden(this._rules, !on);
    if (on) {
      setText(
        this._allow,
        policy.allow.length > 0 ? policy.allow.join(', ') : trans.__('every public address')
      );
      setText(this._deny, policy.deny.length > 0 ? policy.deny.join(', ') : trans.__('none'));
      setText(
        this._limits,
        trans.__(
          '%1 connections at once, %2 per cell',
          policy.max_connections,
          formatBytes(policy.max_bytes_per_cell)
        )
      );
    }
    const records = recentConnections(network);
    setHidden(this._connectionsHeader, !on && records.length === 0);
    this._connections.update(
      records,
      records.length > 0 || !on ? '' : trans.__('No connections yet.')
    );
  }

  private _state: HTMLElement;
  private _rules: HTMLElement;
  private _allow: HTMLElement;
  private _deny: HTMLElement;
  private _limits: HTMLElement;
  private _connectionsHeader: HTMLElement;
  private _connections: KeyedList<api.IConnectionRecord, IConnectionRow>;
}
