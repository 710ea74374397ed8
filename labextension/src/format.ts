/**
 * Pure helpers: byte sizes, times, snapshot names, memory labels (unit tested).
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** "1.5 GiB", "340 MiB", "12 B": binary units, at most 3 significant digits. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes) || bytes < 0) {
    return '—';
  }
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) {
    return `${value} B`;
  }
  const text = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return `${text.includes('.') ? text.replace(/\.?0+$/, '') : text} ${UNITS[unit]}`;
}

/** "used / limit" ("no limit" when the limit is 0 or missing). */
export function formatUsage(used: number, limit: number | null | undefined): string {
  if (!limit) {
    return `${formatBytes(used)} / no limit`;
  }
  return `${formatBytes(used)} / ${formatBytes(limit)}`;
}

/** A fraction from 0 to 1 of the limit used; 0 without a limit. */
export function usageFraction(used: number, limit: number | null | undefined): number {
  if (!limit || limit <= 0 || !Number.isFinite(used)) {
    return 0;
  }
  return Math.min(1, Math.max(0, used / limit));
}

/** A snapshot's creation time (seconds since the epoch) in the user's locale. */
export function formatTime(seconds: number, locale?: string): string {
  if (!Number.isFinite(seconds)) {
    return '—';
  }
  return new Date(seconds * 1000).toLocaleString(locale);
}

/** Snapshot names the kernel accepts: 1-100 ASCII letters, digits, '_' or '-'. */
export const SNAPSHOT_NAME = /^[A-Za-z0-9_-]{1,100}$/;

export function isValidSnapshotName(name: string): boolean {
  return SNAPSHOT_NAME.test(name);
}

/** A default name for a new snapshot, from a date: "snapshot-20250102-030405". */
export function defaultSnapshotName(date: Date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `snapshot-${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}-` +
    `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`
  );
}
