// A provider: default origin, path per target protocol (R-PRV-1), body
// changes (R-PRV-5) and converters (R-REQ-3).
export type Protocol = 'openai-chat' | 'openai-responses' | 'openai-embeddings' | 'anthropic-messages' | 'vertex-predict';

export interface ProviderConf {
  project_id?: string;
  region?: string;
}

export interface ProviderDef {
  name: string;
  /** default host (https, port 443); undefined when the provider needs override.endpoint */
  host?: string | ((pc: ProviderConf | undefined) => string | undefined);
  /** target protocols in the order of R-PRV-1, each with its default path */
  paths: Partial<Record<Protocol, string | ((pc: ProviderConf | undefined, model: string) => string)>>;
  /** R-PRV-5: remove `model` from the outgoing body */
  removeModel?: boolean;
  /** client protocol -> target protocol when the provider lacks the client protocol (R-REQ-3) */
  convert?: Partial<Record<Protocol, Protocol>>;
}
