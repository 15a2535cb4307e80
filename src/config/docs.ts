// The README's configuration table, rendered from the configuration table. `npm run docs:config`
// writes it between the markers; test/config.test.ts fails when the README and the table differ.
import { configRows } from './load.js';

export const README_MARKERS = { start: '<!-- config:start -->', end: '<!-- config:end -->' } as const;

/** A `|` would end the Markdown cell early. */
const cell = (text: string): string => text.replaceAll('|', '\\|');

export function renderConfigTable(): string {
  const lines = ['| variable | default | meaning |', '| --- | --- | --- |'];
  for (const { setting: s } of configRows()) {
    const fallback = s.defaultDoc ?? (typeof s.default === 'string' ? `\`${s.default}\`` : '—');
    lines.push(`| \`${s.env}\` | ${cell(fallback)} | ${cell(s.doc)} |`);
  }
  return lines.join('\n');
}

/** The README with its configuration table replaced by the rendered one. */
export function withConfigTable(readme: string): string {
  const start = readme.indexOf(README_MARKERS.start);
  const end = readme.indexOf(README_MARKERS.end);
  if (start < 0 || end < start) throw new Error(`README has no ${README_MARKERS.start} ... ${README_MARKERS.end} section`);
  return `${readme.slice(0, start + README_MARKERS.start.length)}\n${renderConfigTable()}\n${readme.slice(end)}`;
}
