/** Removes the first `item` from `list`; `true` if it was there. @internal */
export function removeFrom<T>(list: T[] | undefined, item: T): boolean {
  const index = list === undefined ? -1 : list.indexOf(item);
  if (index < 0) {
    return false;
  }
  list!.splice(index, 1);
  return true;
}
