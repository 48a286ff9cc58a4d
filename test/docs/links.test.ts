import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { brokenLinks, githubSlug, headings, linkTargets, slugs } from './markdown';

const ROOT = path.join(__dirname, '..', '..');

/** The documents a reader of the repository meets: the README, the contributors' guide, docs/. */
function documents(): string[] {
  const docs = fs.existsSync(path.join(ROOT, 'docs'))
    ? fs
        .readdirSync(path.join(ROOT, 'docs'))
        .filter((name) => name.endsWith('.md'))
        .map((name) => `docs/${name}`)
    : [];
  return ['README.md', 'CONTRIBUTING.md', ...docs].filter((file) => fs.existsSync(path.join(ROOT, file)));
}

function read(file: string): string {
  return fs.readFileSync(path.join(ROOT, file), 'utf8');
}

describe('the link checker', () => {
  function repository(files: Record<string, string>): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-fleet-docs-'));
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      fs.writeFileSync(path.join(root, name), text);
    }
    return root;
  }

  it('follows GitHub slug rules: lower case, punctuation dropped, spaces to hyphens', () => {
    expect(githubSlug('Burst workers (`burst.maxWorkers` > 0)')).toBe('burst-workers-burstmaxworkers--0');
    expect(githubSlug('What will it cost me?')).toBe('what-will-it-cost-me');
    expect(githubSlug('Operating it: `gpu-manage`')).toBe('operating-it-gpu-manage');
    expect(githubSlug('Rotating a host (a newer AMI, an extended spot request)')).toBe(
      'rotating-a-host-a-newer-ami-an-extended-spot-request',
    );
    expect(githubSlug('For the **backend** team: [jobs](jobs.md)')).toBe('for-the-backend-team-jobs');
    expect(slugs('# A\n## Updating\n### Updating\n')).toEqual(['a', 'updating', 'updating-1']);
  });

  it('reads neither headings nor links inside code', () => {
    const text =
      '# Title\n```sh\n# a shell comment\ncat [x](missing.md)\n```\nsee `[y](gone.md)` and [z](z.md)\n';
    expect(slugs(text)).toEqual(['title']);
    expect(linkTargets(text)).toEqual([{ line: 6, target: 'z.md' }]);
  });

  it('reports a missing file, a missing heading and a link out of the repository; passes the rest', () => {
    const root = repository({
      'README.md': [
        '# Fleet',
        'See [ops](docs/operations.md#destroying), [the config](src/config.ts) and [up](#fleet).',
        'Broken: [gone](docs/gone.md) and [no heading](docs/operations.md#nowhere) and [far](../x.md).',
        '[web](https://example.com/a.md) [ref]: docs/operations.md',
        '[def]: docs/missing.md',
      ].join('\n'),
      'docs/operations.md': '# Operations\n## Destroying\nBack to [the README](../README.md#fleet).\n',
      'src/config.ts': 'export {};\n',
    });
    expect([...brokenLinks(root, 'README.md'), ...brokenLinks(root, 'docs/operations.md')]).toEqual([
      { file: 'README.md', line: 3, target: 'docs/gone.md', reason: 'no such file' },
      {
        file: 'README.md',
        line: 3,
        target: 'docs/operations.md#nowhere',
        reason: 'no heading with the anchor #nowhere',
      },
      { file: 'README.md', line: 3, target: '../x.md', reason: 'points outside the repository' },
      { file: 'README.md', line: 5, target: 'docs/missing.md', reason: 'no such file' },
    ]);
  });
});

describe('the documentation', () => {
  it.each(documents())('%s: every relative link and anchor resolves', (file) => {
    expect(brokenLinks(ROOT, file)).toEqual([]);
  });

  it('has a README, a contributors’ guide and documents by reader under docs/', () => {
    expect(documents()).toEqual(expect.arrayContaining(['README.md', 'CONTRIBUTING.md']));
    expect(documents().filter((file) => file.startsWith('docs/')).length).toBeGreaterThan(0);
  });

  it('keeps the README to one screen of at most 150 lines', () => {
    // Lines as an editor numbers them: a final newline ends the last line, it starts none.
    expect(read('README.md').replace(/\n$/, '').split('\n').length).toBeLessThanOrEqual(150);
  });

  it('lets a newcomer find deploying, the everyday commands and the cost within the first 80 lines', () => {
    const early = headings(read('README.md')).filter((heading) => heading.line <= 80);
    expect(early.some((heading) => /deploy/i.test(heading.text))).toBe(true);
    expect(early.some((heading) => /gpu-manage/i.test(heading.text))).toBe(true);
    expect(early.some((heading) => /cost/i.test(heading.text))).toBe(true);
  });

  it('links every document under docs/ and the contributors’ guide from the README', () => {
    const linked = new Set(
      linkTargets(read('README.md')).map(({ target }) => path.normalize(target.split('#')[0] ?? '')),
    );
    const reachable = documents().filter((file) => file !== 'README.md');
    expect(reachable.filter((file) => !linked.has(path.normalize(file)))).toEqual([]);
  });
});
