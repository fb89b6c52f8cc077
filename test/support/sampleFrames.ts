/**
 * Small frames for the renderer's traffic tests, built byte by byte as a
 * capture holds them (no Node Buffer, so renderer tests can use them;
 * checksums are left zero: the decoder does not check them).
 */
export function ipv4(src: string, dst: string, proto: number, payload: number[]): number[] {
  const addr = (a: string) => a.split('.').map(Number);
  const total = 20 + payload.length;
  return [0x45, 0, total >> 8, total & 0xff, 0, 1, 0, 0, 64, proto, 0, 0, ...addr(src), ...addr(dst), ...payload];
}

export function eth(type: number, payload: number[], vlan?: number): number[] {
  const macs = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
  const tag = vlan === undefined ? [] : [0x81, 0x00, (vlan >> 8) & 0x0f, vlan & 0xff];
  return [...macs, ...tag, type >> 8, type & 0xff, ...payload];
}

export const tcp = (sport: number, dport: number, flags = 0x02): number[] => [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0];
export const udp = (sport: number, dport: number, data: number[] = []): number[] => [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, 0, 8 + data.length, 0, 0, ...data];
export const icmpEcho = [8, 0, 0, 0, 0, 1, 0, 1];

/** Base64 of a frame, as a PacketSampleView carries it. */
export function base64Of(bytes: number[]): string {
  return btoa(String.fromCharCode(...bytes));
}
