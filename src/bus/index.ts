/**
 * The public face of the bus layer: what the daemon, the CLI and tests may use.
 * Contract (subjects, messages, error codes): docs/bus.md.
 */

export {
  authOptions,
  type BusAuth,
  BusAuthError,
  type BusTls,
  hasAuth,
  redactUrl,
  stripUrlCredentials,
} from './auth.js';
export {
  type Bus,
  type BusCounters,
  type BusOptions,
  type BusStatus,
  type CommandServer,
  createBus,
  type Rejection,
  type ResultReceipt,
} from './bus.js';
export type { Catalog } from './catalog.js';
export { catalogKey, DEFAULT_CATALOG_BUCKET } from './catalog.js';
export { type BusClient, type BusClientOptions, createBusClient } from './client.js';
export type {
  Caller,
  CommandBodies,
  CommandErrorBody,
  CommandHandler,
  CommandHandlers,
  CommandMeta,
  CommandReply,
} from './commands.js';
export {
  BusClosedError,
  BusConnectionError,
  BusError,
  BusRequestError,
  BusValidationError,
  CatalogError,
  COMMAND_ERROR_CODES,
  CommandError,
  type CommandErrorCode,
  isCommandErrorCode,
  NatsServerError,
} from './errors.js';
export { HEALTH_REJECT_REASONS, type HealthRejectReason } from './health.js';
export type { HistoryEntry, HistoryFilter, HistoryKind, HistoryOptions } from './history.js';
export type {
  BeginPayload,
  CkptEndPayload,
  ErrorPayload,
  ResultMessage,
  ResultPayload,
  RstrtEndPayload,
} from './results.js';
export { type NatsServerHandle, type NatsServerOptions, startNatsServer } from './server.js';
export {
  commandSubject,
  DEFAULT_PREFIX,
  healthSubject,
  type ResultKind,
  type ResultPhase,
  resultSubject,
} from './subjects.js';
export { VERBS, type Verb } from './validate.js';
