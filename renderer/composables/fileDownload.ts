/**
 * Saves bytes the console made (a pcapng export, a CSV) as a file through the
 * browser's download, which works the same in Electron and in a browser
 * served by the headless host.
 */
export function saveFile(name: string, data: Uint8Array | string, type: string): void {
  const blob = new Blob([typeof data === 'string' ? data : (data.slice().buffer as ArrayBuffer)], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  // The download has read the blob long before this.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A file-name-safe moment, e.g. 2026-12-01T180102. */
export function fileStamp(at = new Date()): string {
  return at.toISOString().slice(0, 19).replaceAll(':', '');
}
