import type { ProviderDef } from './types.js';
import { AwsSigV4Auth } from './aws-sigv4.js';
import { preloadAwsEventStream } from '../aws-eventstream.js';

// Amazon Bedrock (R-BDR-1, APISIX 3.18's bedrock provider): the Converse API
// on bedrock-runtime.<region>.amazonaws.com (or override.endpoint), the model
// in the path (so `model` leaves the body), every attempt SigV4-signed with
// `auth.aws`. OpenAI chat is converted (converters/openai-chat-to-bedrock-converse.ts).
export const bedrock: ProviderDef = {
  name: 'bedrock',
  host: (pc) => (pc?.region ? `bedrock-runtime.${pc.region}.amazonaws.com` : undefined),
  paths: {
    // the model stays one path segment (inference profile ARNs hold '/' and ':')
    'bedrock-converse': (_pc, model, stream) => `/model/${encodeURIComponent(model)}/${stream ? 'converse-stream' : 'converse'}`,
  },
  removeModel: true,
  modelRequired: true,
  checkInstance(inst) {
    if (typeof inst.provider_conf?.region !== 'string' || inst.provider_conf.region === '') return 'provider bedrock needs provider_conf.region';
    const aws = inst.auth?.aws;
    if (!aws || typeof aws !== 'object') return 'provider bedrock needs auth.aws';
    for (const k of ['access_key_id', 'secret_access_key']) {
      if (typeof aws[k] !== 'string' || aws[k] === '') return `provider bedrock needs auth.aws.${k}`;
    }
    return undefined;
  },
  compileAuth(auth, _cacheKey, pc) {
    // converse-stream answers are decoded by the event-stream codec: load it with the configuration
    preloadAwsEventStream();
    return new AwsSigV4Auth(auth.aws, pc?.region ?? '', 'bedrock');
  },
};
