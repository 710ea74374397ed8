import { describe, expect, it } from 'vitest';

import {
  defaultSnapshotName,
  formatBytes,
  formatTime,
  formatUsage,
  isValidSnapshotName,
  usageFraction
} from '../src/format';

describe('formatBytes', () => {
  it('uses binary units with at most three significant digits', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(340 * 2 ** 20)).toBe('340 MiB');
    expect(formatBytes(2 ** 31)).toBe('2 GiB');
    expect(formatBytes(12.34 * 2 ** 20)).toBe('12.3 MiB');
  });
  it('shows a dash for missing or invalid values', () => {
    expect(formatBytes(undefined)).toBe('—');
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(-1)).toBe('—');
    expect(formatBytes(NaN)).toBe('—');
  });
});

describe('usage', () => {
  it('formats used / limit', () => {
    expect(formatUsage(2 ** 20, 2 ** 31)).toBe('1 MiB / 2 GiB');
    expect(formatUsage(2 ** 20, 0)).toBe('1 MiB / no limit');
  });
  it('clamps the fraction', () => {
    expect(usageFraction(50, 100)).toBe(0.5);
    expect(usageFraction(500, 100)).toBe(1);
    expect(usageFraction(50, 0)).toBe(0);
    expect(usageFraction(50, null)).toBe(0);
  });
});

describe('snapshot names', () => {
  it('accepts what the kernel accepts', () => {
    expect(isValidSnapshotName('before-fit_2')).toBe(true);
    expect(isValidSnapshotName('a'.repeat(100))).toBe(true);
  });
  it('refuses paths, spaces, empty and long names', () => {
    for (const name of ['', '../x', 'a b', 'a/b', 'é', 'a'.repeat(101)]) {
      expect(isValidSnapshotName(name)).toBe(false);
    }
  });
  it('makes valid default names from the date', () => {
    const name = defaultSnapshotName(new Date(2025, 0, 2, 3, 4, 5));
    expect(name).toBe('snapshot-20250102-030405');
    expect(isValidSnapshotName(name)).toBe(true);
  });
  it('formats times from epoch seconds', () => {
    expect(formatTime(NaN)).toBe('—');
    expect(formatTime(0, 'en-US')).toContain('1970');
  });
});
