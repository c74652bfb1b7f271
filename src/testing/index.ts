/* Marble testing */
export { observableMatcher, type ComparableError } from './observableMatcher';

/* Events and commands */
export { made, data, lost, write, close, abort } from './events';
