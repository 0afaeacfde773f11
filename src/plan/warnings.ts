import type { BottlePlan, PlanWarning, PlanWarningCode } from './types.js';

/** A problem that stops a launch (a dry run still shows the plan). The text says so, as the operator has always read it. */
export function blocking(code: PlanWarningCode, message: string): PlanWarning {
  return { code, message: `${message}: launch will fail`, blocksLaunch: true };
}

/** A problem the launch goes ahead with. */
export function notice(code: PlanWarningCode, message: string): PlanWarning {
  return { code, message, blocksLaunch: false };
}

/** The messages of the warnings that stop a launch of `plan`; empty when it may launch. */
export function blockingWarnings(plan: Pick<BottlePlan, 'warnings'>): string[] {
  return plan.warnings.filter((w) => w.blocksLaunch).map((w) => w.message);
}
