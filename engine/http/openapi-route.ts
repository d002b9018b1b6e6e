/**
 * GET /ucp/v2/openapi.yaml and GET /ucp/v2/openapi.json: the OpenAPI
 * document of the admin API (openapi/admin.yaml), for client generators and
 * API browsers. No key is needed: it describes endpoints, never an account's
 * data. The file is read once, when the server starts, so what is served is
 * the document that came with the running code, and a broken or missing
 * file stops the start instead of surfacing on the first request.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { Express } from 'express';
import YAML from 'yaml';

export const OPENAPI_FILE = fileURLToPath(new URL('../../openapi/admin.yaml', import.meta.url));

export function openapiRoutes(file = OPENAPI_FILE): (app: Express) => void {
  const yaml = fs.readFileSync(file, 'utf8');
  const json = JSON.stringify(YAML.parse(yaml));
  return (app) => {
    app.get('/ucp/v2/openapi.yaml', (_req, res) => {
      res.setHeader('Cache-Control', 'no-cache');
      res.type('application/yaml').send(yaml);
    });
    app.get('/ucp/v2/openapi.json', (_req, res) => {
      res.setHeader('Cache-Control', 'no-cache');
      res.type('application/json').send(json);
    });
  };
}
