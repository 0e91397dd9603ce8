// The OCR services the gateway knows how to run as sidecars (the Python registry mirrors this list).
export const KNOWN_SERVICES = ['tesseract', 'rapidocr', 'hybrid', 'marker', 'nanonets', 'olmocr'] as const;

export type ServiceName = (typeof KNOWN_SERVICES)[number];

export function isKnownService(name: string): name is ServiceName {
  return (KNOWN_SERVICES as readonly string[]).includes(name);
}
