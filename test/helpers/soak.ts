// Budgets of the stress tests (races, fuzzers, tearing): a stress test runs
// the same steps and asserts the same things in every run, and only how many
// times (or how long) depends on the run. `npm test` gives each the budget that
// still catches the defect it was written for; a soak run (SHMKIT_TEST_SOAK=1,
// `npm run test:soak`, a CI step of its own) gives each its full budget.

/** Whether this is a soak run: SHMKIT_TEST_SOAK=1 in the environment. */
const SOAK = process.env.SHMKIT_TEST_SOAK === '1';

/**
 * A stress test's budget (a count, a duration in ms): `quick` in `npm test`,
 * `full` in a soak run. A child process gets the value as an argument or in
 * its code, never by reading the variable itself, so a test names its budget
 * in one place.
 */
export function budget(quick: number, full: number): number {
  return SOAK ? full : quick;
}
