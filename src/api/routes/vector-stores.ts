import type { AppServices } from '../../services.ts'
import type { RouteTable } from '../http.ts'

export function vectorStoreRoutes(_r: RouteTable, _services: AppServices) {}
