/**
 * Per-job lifetimes from a stream of job lists: one inner stream per job while it is in the
 * list, stopped when it leaves the list or when the list stream completes.
 */
import {
  connect,
  endWith,
  filter,
  ignoreElements,
  merge,
  mergeMap,
  type Observable,
  type OperatorFunction,
  pairwise,
  startWith,
  take,
  takeUntil,
} from 'rxjs';

/**
 * For each id that appears in the source lists, subscribe `perJob(id)` until the id is gone
 * from a later list or the source completes. An id that leaves and comes back starts afresh.
 */
export function perJobLifetime<T>(
  perJob: (id: string) => Observable<T>,
): OperatorFunction<string[], T> {
  return (ids$) =>
    ids$.pipe(
      connect((shared$) => {
        const ended$ = shared$.pipe(ignoreElements(), endWith(null));
        return shared$.pipe(
          startWith([] as string[]),
          pairwise(),
          mergeMap(([prev, cur]) => cur.filter((id) => !prev.includes(id))),
          mergeMap((id) => {
            const gone$ = merge(shared$.pipe(filter((ids) => !ids.includes(id))), ended$).pipe(
              take(1),
            );
            return perJob(id).pipe(takeUntil(gone$));
          }),
        );
      }),
    );
}
