/**
 * The backend interface lives with the launch sequence that uses it
 * (src/launch/boundary.ts): backends import launch's interfaces, launch never
 * imports a backend.
 */
export type {
  Availability,
  Backend,
  BottleStatus,
  Boundary,
  BoundaryContext,
  BundleEndpoints,
  BundleSecrets,
  BundleStart,
  GuestSpec,
  HeldGuest,
  LaunchSecrets,
  PreparedGuest,
  ReadyBundle,
  RunningBottle,
  SidecarHost,
  StopReport,
} from '../launch/boundary.js';

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}
