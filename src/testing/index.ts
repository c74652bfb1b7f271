/* Marble testing */
export { observableMatcher, type ComparableError } from './observableMatcher';
