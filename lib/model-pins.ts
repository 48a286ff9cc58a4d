import * as fs from 'node:fs';
import * as path from 'node:path';

/** The GPU service's pins file: every model it loads, and what the repository vouches for. */
export const MODEL_PINS_FILE = path.join(__dirname, '..', 'docker', 'openvoice', 'app', 'model_pins.json');

interface PinsFile {
  readonly checkpoint?: { readonly sha256?: string | null };
  readonly huggingface?: Readonly<
    Record<
      string,
      { readonly revision?: string | null; readonly files?: Readonly<Record<string, string | null>> }
    >
  >;
}

/**
 * What the pins file leaves to trust on first use: the checkpoint archive's sha256, each Hugging
 * Face repository's revision and each file's sha256 that is null (or missing).
 */
export function unpinnedModels(pins: unknown): string[] {
  const file = (pins ?? {}) as PinsFile;
  const missing: string[] = [];
  if (!file.checkpoint?.sha256) missing.push('checkpoint.sha256');
  for (const [repository, pin] of Object.entries(file.huggingface ?? {})) {
    if (!pin.revision) missing.push(`${repository} revision`);
    for (const [name, sha256] of Object.entries(pin.files ?? {})) {
      if (!sha256) missing.push(`${repository} ${name}`);
    }
  }
  return missing;
}

/** The unpinned entries of the repository's pins file. */
export function unpinnedModelsInRepository(): string[] {
  return unpinnedModels(JSON.parse(fs.readFileSync(MODEL_PINS_FILE, 'utf8')));
}
