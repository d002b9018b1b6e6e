/**
 * How a capability hands its routes to the HTTP application
 * (engine/http/app.ts), without importing it: a function that mounts them.
 *
 * Shared vocabulary: a leaf (only express's types).
 */
import type { Express, Router } from 'express';

/** A capability's admin routes, mounted under /ucp/v2/accounts/:account with an admin key of that account. */
export type AdminRoutes = (router: Router) => void;

/** Routes mounted on the application itself: at the root (/metrics, the console), or raw-body routes before the JSON parser. */
export type AppRoutes = (app: Express) => void;
