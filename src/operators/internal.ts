/**
 * Mechanics shared by the behaviour operators. Not re-exported: nothing here is public API.
 *
 * @packageDocumentation
 */
import type { BehaviourItem } from '../types';

export type { BehaviourItem, DataOf } from '../types';

/** The internal name {@link BehaviourItem} had before it was public; kept for code in flight. */
export type ServerItem = BehaviourItem;

export { relay } from '../internal/relay';
