/**
 * The idempotency key for holding seats: one per intended hold (a tier and a quantity), kept
 * until a hold is made, so that "Hold" pressed again after an answer that never came (a
 * timeout, the network) returns the hold the first press made rather than holding the seats
 * and the buyer's allowance twice. A refused hold wrote nothing, so its key may go again.
 */
export class HoldKey {
  #asked: string | undefined;
  #key = '';

  /** The key for holding `quantity` of `tierId`: the last one while that is what is asked. */
  for(tierId: string, quantity: number): string {
    const asked = `${tierId}:${quantity}`;
    if (asked !== this.#asked) {
      this.#asked = asked;
      this.#key = crypto.randomUUID();
    }
    return this.#key;
  }

  /** A hold was made: the next one is another intention, with a key of its own. */
  made(): void {
    this.#asked = undefined;
  }
}
