import { readFile } from 'node:fs/promises';
import * as path from 'node:path';

/** A failure of the OpenVoice service; `permanent` when the input itself was rejected (4xx). */
export class OpenVoiceError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'OpenVoiceError';
  }
}

/** The OpenVoice HTTP API (docker/openvoice) as the worker uses it. */
export class OpenVoiceClient {
  constructor(private readonly baseUrl: string) {}

  async healthy(signal?: AbortSignal): Promise<boolean> {
    try {
      const response = await fetch(new URL('/health', this.baseUrl), { signal });
      return response.ok;
    } catch {
      return false;
    }
  }

  async createVoice(voiceId: string, referenceFile: string, signal?: AbortSignal): Promise<void> {
    const form = new FormData();
    form.set('voiceId', voiceId);
    form.set('reference', new Blob([await readFile(referenceFile)]), path.basename(referenceFile));
    await this.call('/voices', { method: 'POST', body: form, signal });
  }

  async synthesize(
    request: { text: string; language: string; voiceId: string; speed?: number },
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const response = await this.call('/synthesize', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal,
    });
    return new Uint8Array(await response.arrayBuffer());
  }

  private async call(route: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(new URL(route, this.baseUrl), init);
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new OpenVoiceError(`OpenVoice unreachable: ${(error as Error).message}`, undefined, false);
    }
    if (response.ok) return response;
    const detail = await response.text().catch(() => '');
    // 4xx: the request itself is wrong and will stay wrong; 429 and 5xx may pass later.
    const permanent = response.status >= 400 && response.status < 500 && response.status !== 429;
    throw new OpenVoiceError(
      `OpenVoice ${route} answered ${response.status}: ${detail.slice(0, 300)}`,
      response.status,
      permanent,
    );
  }
}
