import * as fs from 'node:fs';
import * as path from 'node:path';

/** A link or anchor in a markdown file that leads nowhere. */
export interface BrokenLink {
  readonly file: string;
  readonly line: number;
  readonly target: string;
  readonly reason: string;
}

const FENCE = /^\s{0,3}(```|~~~)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const INLINE_LINK = /!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
const REFERENCE_DEFINITION = /^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * The lines of a markdown text with fenced code blanked and inline code spans emptied, so that a
 * `#` comment in a shell block is no heading and a link written as code is no link. Line numbers
 * stay those of the file.
 */
export function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const opener = FENCE.exec(line)?.[1];
    if (fence !== undefined) fence = opener === fence ? undefined : fence;
    else if (opener !== undefined) fence = opener;
    else return line;
    return '';
  });
}

/** A heading's visible text: code spans keep their content, links their text, emphasis goes. */
function headingText(raw: string): string {
  return raw
    .replace(/`([^`]*)`/g, '$1')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/(\*\*|\*|__)(.+?)\1/g, '$2');
}

/**
 * GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits, `_`, `-` and
 * spaces stay), each space a hyphen. Repeated headings get `-1`, `-2`… in `slugs`.
 */
export function githubSlug(heading: string): string {
  return headingText(heading)
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors GitHub renders for every heading of a markdown text, in order. */
export function slugs(markdown: string): string[] {
  const seen = new Map<string, number>();
  const result: string[] = [];
  for (const line of proseLines(markdown)) {
    const heading = HEADING.exec(line)?.[2];
    if (heading === undefined) continue;
    const base = githubSlug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.push(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** The headings of a markdown text with their 1-based line numbers. */
export function headings(markdown: string): { line: number; text: string }[] {
  return proseLines(markdown).flatMap((line, index) => {
    const text = HEADING.exec(line)?.[2];
    return text === undefined ? [] : [{ line: index + 1, text: headingText(text) }];
  });
}

/** Every link target written in the prose of a markdown text (inline and reference definitions). */
export function linkTargets(markdown: string): { line: number; target: string }[] {
  return proseLines(markdown).flatMap((line, index) => {
    const prose = line.replace(/(`+)[^`]*?\1/g, '');
    const definition = REFERENCE_DEFINITION.exec(prose)?.[1];
    const inline = [...prose.matchAll(INLINE_LINK)].map((match) => match[1] ?? '');
    return [...inline, ...(definition === undefined ? [] : [definition])].map((target) => ({
      line: index + 1,
      target,
    }));
  });
}

/**
 * The relative links of `file` (a path under `root`) that lead to no file, or to a heading that
 * the markdown file they name does not have. Links with a scheme (https:, mailto:) are not checked.
 */
export function brokenLinks(root: string, file: string): BrokenLink[] {
  const source = path.join(root, file);
  const markdown = fs.readFileSync(source, 'utf8');
  return linkTargets(markdown).flatMap(({ line, target }) => {
    if (SCHEME.test(target)) return [];
    const hash = target.indexOf('#');
    const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    const resolved = pathPart === '' ? source : path.resolve(path.dirname(source), pathPart);
    const broken = (reason: string): BrokenLink[] => [{ file, line, target, reason }];
    const inRepository = path.relative(root, resolved);
    if (inRepository.startsWith('..') || path.isAbsolute(inRepository))
      return broken('points outside the repository');
    if (!fs.existsSync(resolved)) return broken('no such file');
    if (anchor === undefined || !resolved.endsWith('.md')) return [];
    return slugs(fs.readFileSync(resolved, 'utf8')).includes(anchor)
      ? []
      : broken(`no heading with the anchor #${anchor}`);
  });
}
