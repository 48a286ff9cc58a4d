import { ReceiveGate } from '../../docker/worker/src/gate';

describe('ReceiveGate: receives wait while any reason holds it closed', () => {
  const settled = async (promise: Promise<void>) => {
    let done = false;
    void promise.then(() => {
      done = true;
    });
    for (let n = 0; n < 5; n += 1) await Promise.resolve();
    return done;
  };

  it('passes at once while open', async () => {
    const gate = new ReceiveGate();
    expect(gate.open).toBe(true);
    expect(await settled(gate.pass())).toBe(true);
  });

  it('holds every waiter until the last reason is gone, then lets them all through', async () => {
    const gate = new ReceiveGate();
    gate.close('openvoice');
    gate.close('storage');
    expect(gate.open).toBe(false);
    const first = gate.pass();
    const second = gate.pass();
    gate.reopen('openvoice');
    expect(gate.open).toBe(false);
    expect(await settled(first)).toBe(false);
    gate.reopen('storage');
    expect(gate.open).toBe(true);
    expect(await settled(first)).toBe(true);
    expect(await settled(second)).toBe(true);
    gate.close('draining');
    const third = gate.pass();
    gate.reopen('storage'); // not a reason it is closed for
    expect(await settled(third)).toBe(false);
    gate.reopen('draining');
    expect(await settled(third)).toBe(true);
  });
});
