// Photos chosen on the phone, turned into what the report carries: base64 of the file. A large
// photo is made smaller on the phone first (at most 2048 px on its longest side, JPEG 85 %), which
// also drops its metadata; with "keep location" the file is sent as it is. The gateway checks and
// strips again whatever arrives (docs/field.md): this is only to spare the mobile link.

export const MAX_PHOTOS = 4;
export const MAX_BYTES = 5 * 1024 * 1024;
const MAX_SIDE = 2048;
const SHRINK_ABOVE = 1024 * 1024;
const TYPES = ["image/jpeg", "image/png", "image/webp"];

/** {data} for the report, or {error: name} when the file is not a photo or stays too large. */
export async function preparePhoto(file, keepLocation) {
  if (!TYPES.includes(file.type)) return { error: file.name };
  let blob = file;
  if (!keepLocation && file.size > SHRINK_ABOVE) blob = (await shrink(file)) || file;
  if (blob.size > MAX_BYTES) return { error: file.name };
  return { data: await base64(blob) };
}

async function shrink(file) {
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
  } catch {
    return null; // the gateway still takes the original when it is small enough
  }
}

async function base64(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
