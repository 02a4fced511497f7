/**
 * Staging: basket/DIDs → the compute site (replica mode or verified download) → results back.
 * @module
 */
export { Staging, orderSources, type DeclareCorruptOptions, type DeclareCorruptResult, type StagingOptions, type StageOptions, type StageSource, type StageSourceProvider, type UploadEvent, type UploadOptions, type UploadResult } from './staging.js';
export { StreamChecksum, checksumOf, combineAdler32, sameAdler32, type Checksums } from './checksum.js';
export { mainThreadHashing, type Hashing, type HashJob, type HashKinds } from './hashing.js';
export { webWorkerHashing, type WorkerHashing, type WorkerHashJob, type WorkerHashingOptions } from './hash-workers.js';
export { fetchStorageHttp, type StorageHttp, type StorageRequest, type StorageResponse, type BodyReader } from './http.js';
export { pfnToLocalPath, downloadRelativePath, joinPath } from './paths.js';
export { memorySink, writableSink, opfsSink, RESERVED_SUFFIXES, type DownloadSink, type SinkFile, type SinkOpenOptions, type ExpectedFile, type PartialState, type Segment, type StagedLocation } from './sinks.js';
export { collectionStatus, corruptReplicas, type CorruptReplica, type FileManifest, type FileStatus, type CollectionStatus, type StageEvent, type StageResult } from './types.js';
export { UploadError, type UploadFile, type UploadManifest, type UploadStep } from './upload.js';
export { ChecksumMismatchError, type VerifyCheck } from './download.js';
export { pfnToHttpUrl, isHttpPfn, parseDigestHeader } from './storage.js';
export { Files, RemoteFile, RemoteBlob, RangeNotSupportedError, type FilesOptions, type OpenOptions, type OpenSource, type ReadOptions, type RemoteFileStats, type FileVerification, type FileCorruptReplica } from './files.js';
