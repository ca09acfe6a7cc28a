/**
 * Training data: RecordIO (`.rec`/`.idx`) read and write, image folders, the reference's
 * synthetic dataset, the generated toy faces (with held-out verification pairs and their
 * raw-pixel baseline), JPEG/PNG decoding, the decode worker pool, the distributed sampler
 * and the loader that yields uint8 HWC batches in shared memory.
 *
 * @module
 */
export { DataError, type DataLocation } from "./errors.ts";
export {
  checkConfigAgainstData,
  checkLabel,
  type Dataset,
  type DatasetSpec,
  IMAGE_BYTES,
  IMAGE_SIZE,
} from "./dataset.ts";
export { openDataset, openDatasetSpec } from "./open.ts";
export {
  classOf,
  frameRecord,
  type IRHeader,
  packRecord,
  RECORDIO_MAGIC,
  RecordIOReader,
  RecordIOWriter,
  type RecordLayout,
  unpackRecord,
} from "./recordio.ts";
export { RecordIODataset } from "./recordio_dataset.ts";
export { ImageFolderDataset, scanImageFolder } from "./image_folder.ts";
export { SyntheticDataset, type SyntheticOptions } from "./synthetic.ts";
export {
  faceIdentity,
  faceVariation,
  renderFace,
  TOY_IMAGE_BYTES,
  ToyFaces,
  type ToyFacesOptions,
  type ToyPairs,
  toyPairs,
} from "./toy_faces.ts";
export { ToyFacesDataset } from "./toy_dataset.ts";
export { toyBinBytes, writeToyBin } from "./toy_bin.ts";
export { bestThresholdAccuracy, pixelBaseline, pixelCosine } from "./pixel_baseline.ts";
export { createDecoder, type ImageDecoder, type JpegBackend, probeImage } from "./decode.ts";
export { DecodePool } from "./pool.ts";
export { DistributedSampler, type SamplerOptions, type SamplerState } from "./sampler.ts";
export { type Batch, DataLoader, type LoaderOptions, type LoaderStats } from "./loader.ts";
export { packImageFolder, type PackOptions, type PackResult } from "./pack.ts";
export { formatInspectReport, inspectDataset, type InspectReport } from "./inspect.ts";
export { pickleDumps, PyTuple, verificationBinBytes } from "./pickle_write.ts";
