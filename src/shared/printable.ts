/**
 * Text from others (a command line a user declared, a name from an image) made safe for a
 * terminal: every control character (C0, DEL, C1: escape sequences start with one) is
 * shown as \xNN instead of being sent to the terminal.
 */
export function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0) as number;
    out += c < 0x20 || (c >= 0x7f && c <= 0x9f) ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}
