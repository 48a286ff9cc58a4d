import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const LIB = path.join(ROOT, 'lib');
const SRC = path.join(ROOT, 'src');

function typeScriptFiles(dir: string): string[] {
  const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' });
  return files.filter((file) => file.endsWith('.ts')).map((file) => path.join(dir, file));
}

/** The files a file imports by relative path, type-only imports included (they still tie modules). */
function relativeImports(file: string): string[] {
  const source = fs.readFileSync(file, 'utf8');
  return [...source.matchAll(/from '(\.{1,2}\/[^']+)'/g)].map((match) =>
    path.resolve(path.dirname(file), (match[1] as string).replace(/\.js$/, '')).concat('.ts'),
  );
}

/** Every import circle among `files`, each as the path that closes it. */
function circles(files: readonly string[]): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const visit = (file: string, trail: string[]): void => {
    const seen = trail.indexOf(file);
    if (seen >= 0) {
      found.push([...trail.slice(seen), file].map((f) => path.relative(ROOT, f)));
      return;
    }
    if (done.has(file) || !files.includes(file)) return;
    for (const next of relativeImports(file)) visit(next, [...trail, file]);
    done.add(file);
  };
  for (const file of files) visit(file, []);
  return found;
}

describe('lib/ import graph', () => {
  const files = typeScriptFiles(LIB);

  it('has no circles', () => {
    expect(circles(files)).toEqual([]);
  });

  it('does not reach into the SDK adapters: shared names come from src/names.ts', () => {
    const intoAdapters = files.flatMap((file) =>
      relativeImports(file)
        .filter((target) => path.relative(ROOT, target).startsWith(path.join('src', 'aws') + path.sep))
        .map((target) => `${path.relative(ROOT, file)} -> ${path.relative(ROOT, target)}`),
    );
    expect(intoAdapters).toEqual([]);
  });
});

describe('the whole TypeScript import graph', () => {
  const files = ['bin', 'lib', 'src', 'lambda', 'scripts'].flatMap((dir) =>
    typeScriptFiles(path.join(ROOT, dir)),
  );

  it('has no circles', () => {
    expect(circles(files)).toEqual([]);
  });

  it('runs from src/ never into lib/: the domain and the adapters know nothing of CDK', () => {
    const intoLib = typeScriptFiles(SRC).flatMap((file) =>
      relativeImports(file)
        .filter((target) => path.relative(ROOT, target).startsWith('lib' + path.sep))
        .map((target) => `${path.relative(ROOT, file)} -> ${path.relative(ROOT, target)}`),
    );
    expect(intoLib).toEqual([]);
  });
});
