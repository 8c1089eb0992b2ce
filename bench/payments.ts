export async function runPaymentDrain(_: unknown): Promise<{ report: string; problems: string[] }> { return { report: '', problems: [] }; }
