/**
 * The ESAP API gateway client: the user's shopping basket, read, edited safely, and turned into
 * Data Lake work (Rucio DIDs, downloadable sources).
 * @module
 */
export { EsapClient, type EsapClientOptions } from './client.js';
export {
  Basket,
  EsapBasket,
  type BasketByArchive,
  type BasketConfirmOptions,
  type BasketEditOptions,
  type BasketEditResult,
  type BasketReadOptions,
  type BasketSource,
  type EsapProfileTokens,
} from './basket.js';
export {
  KNOWN_ARCHIVES,
  rucioItem,
  type BasketItem,
  type BasketItemBase,
  type BasketItemInput,
  type BasketItemProblem,
  type KnownArchive,
  type RecordBasketItem,
  type RowBasketItem,
  type RucioBasketItem,
  type UnknownBasketItem,
  type WireItem,
  type ZooniverseBasketItem,
} from './items.js';
export {
  EsapBasketConflictError,
  type BasketEditMismatch,
  EsapBasketWriteError,
  EsapNoProfileError,
  EsapProfileNotAddressableError,
  EsapSessionExpiredError,
  EsapUnwritableItemsError,
  type EsapAuthMode,
  type NoProfileReason,
} from './errors.js';
export { parseJson, type JsonInput, type JsonObject, type JsonValue } from './json.js';
