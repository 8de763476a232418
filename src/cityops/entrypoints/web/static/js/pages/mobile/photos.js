// Photos from the camera, made small on the phone before they are queued: a 12-megapixel
// picture becomes a ~1600 px JPEG of a few hundred KB, which uploads on a weak signal.
const MAX_SIDE = 1600;
const QUALITY = 0.82;

async function decode(file) {
  if (window.createImageBitmap) {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch {
      /* fall back to an <img> */
    }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** A downscaled JPEG Blob of the picture (the original when it cannot be decoded). */
export async function downscale(file) {
  let image;
  try {
    image = await decode(file);
  } catch {
    return file;
  }
  const w = image.width;
  const hgt = image.height;
  const k = Math.min(1, MAX_SIDE / Math.max(w, hgt));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(w * k));
  canvas.height = Math.max(1, Math.round(hgt * k));
  canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
  image.close?.();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY));
  return blob || file;
}

/** An <img> showing a Blob; its object URL is released once drawn. */
export function blobImage(blob, attrs = {}) {
  const img = document.createElement("img");
  Object.assign(img, { alt: "", ...attrs });
  const url = URL.createObjectURL(blob);
  img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
  img.src = url;
  return img;
}

/** The thumbnail URL of an uploaded photo ref (media://<id>), or a URL ref as it is. */
export function refThumb(ref) {
  return ref.startsWith("media://") ? `/api/v1/media/${ref.slice(8)}/thumb` : ref;
}
