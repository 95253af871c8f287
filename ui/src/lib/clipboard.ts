// Copying addresses for the owner to paste elsewhere (the Cashflows portal, a message).

/** True when the text is on the clipboard. */
export async function copyText(text: string): Promise<boolean> {
  if (!text) return false;
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
