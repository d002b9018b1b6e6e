/**
 * The v2 TypeScript SDK client (@modelcontextprotocol/client), in a
 * 2025-era session: the client this project's own tests and examples use.
 */
import { connect } from '../helpers/server.ts';
import { sdkClientSuite } from './matrix.ts';

sdkClientSuite('v2 SDK client', (matrix, persona, onListChanged) => connect(matrix.server, matrix.headers(persona), 'legacy', { listChanged: { tools: { onChanged: onListChanged } } }));
