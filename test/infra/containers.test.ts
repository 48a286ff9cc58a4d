import { composeService as service, read } from './repo-files';

/**
 * What each container of a host may reach: the host's IAM role (through the instance metadata
 * service), the shared file system, the OpenVoice token. Read from the compose files and the
 * provisioning script that together decide it.
 */

const provision = read('lib/host-scripts/provision.sh');

function servicesOf(compose: string): string[] {
  const body = compose.slice(compose.indexOf('\nservices:\n'));
  return [...body.matchAll(/\n {2}(\w+):\n/g)].map((m) => m[1] as string);
}

const credentialsClient = /^CREDENTIALS_CLIENT=([\d.]+)$/m.exec(provision)?.[1];

describe.each([
  ['docker/gpu-host/compose.yaml', 'worker'],
  ['docker/app/compose.yaml', 'backend'],
])('%s', (file, withRole) => {
  const compose = read(file);

  it(`gives only the ${withRole} the address that may reach the instance metadata service`, () => {
    expect(credentialsClient).toBeDefined();
    expect(compose).toMatch(
      /networks:\n {2}default:\n {4}ipam:\n {6}config:\n {8}- subnet: 172\.30\.0\.0\/24\n/,
    );
    expect(service(compose, withRole)).toContain(`ipv4_address: ${credentialsClient}`);
    expect(compose.match(/ipv4_address:/g)).toHaveLength(1);
    // No other container can claim the address on the bridge (forged ARP or packets need NET_RAW).
    for (const name of servicesOf(compose).filter((n) => n !== withRole)) {
      expect({ name, caps: service(compose, name).includes('cap_drop: [NET_RAW]') }).toEqual({
        name,
        caps: true,
      });
    }
    expect(servicesOf(compose).some((n) => /network_mode:\s*host/.test(service(compose, n)))).toBe(false);
  });

  it('hands the OpenVoice token over as a secret file, never as an environment variable', () => {
    expect(compose).not.toMatch(/OPENVOICE_API_TOKEN:/);
    expect(compose).toMatch(
      /secrets:\n {2}openvoice_api_token:\n {4}file: \/etc\/gpu-fleet\/secrets\/openvoice-api-token\n/,
    );
    expect(service(compose, withRole)).toContain(
      'OPENVOICE_API_TOKEN_FILE: /run/secrets/openvoice_api_token',
    );
    expect(provision).toContain('SECRETS_DIR="${CONFIG_DIR}/secrets"');
  });
});

describe('provisioning', () => {
  it('drops every container’s packets to the metadata service but the credentials client’s', () => {
    expect(provision).toContain('METADATA_SERVICE=169.254.169.254');
    expect(provision).toContain(
      '(DOCKER-USER -d "${METADATA_SERVICE}/32" ! -s "${CREDENTIALS_CLIENT}/32" -j DROP)',
    );
  });
});

describe('the GPU host', () => {
  const compose = read('docker/gpu-host/compose.yaml');

  it('mounts only models/ of EFS into the models step, which is online: not voices, uploads or outputs', () => {
    const volumes = /volumes:\n((?: {6}- .+\n)+)/.exec(service(compose, 'models'))?.[1] ?? '';
    const fromEfs = volumes
      .trim()
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('- /mnt/shared'));
    expect(fromEfs).toEqual(['- /mnt/shared/models:/mnt/shared/models']);
  });

  it('lets OpenVoice accept the previous token during a rotation', () => {
    const openvoice = service(compose, 'openvoice');
    expect(openvoice).toContain(
      'OPENVOICE_API_TOKEN_PREVIOUS_FILE: /run/secrets/openvoice_api_token_previous',
    );
    expect(openvoice).toContain('secrets: [openvoice_api_token, openvoice_api_token_previous]');
  });
});

describe('the app host', () => {
  it('publishes VOICEVOX on loopback only: the backend reaches it inside compose', () => {
    const voicevox = service(read('docker/app/compose.yaml'), 'voicevox');
    expect(voicevox).toContain("- '127.0.0.1:50021:50021'");
    expect(voicevox).not.toMatch(/- '50021:50021'/);
  });
});
