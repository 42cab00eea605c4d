/**
 * The Keys page's endpoints (docs/console.md): list, create, rotate, disable/enable, policy, revoke one object,
 * destroy with typed confirmation. Every change goes through the admin API's audited code path
 * (src/service/key-actions.ts) with the console user as the principal. Admins change; auditors read.
 */
import type { KeyInfo, KeyPolicy } from '../service/contracts.js';
import type { CreateKeyRequest, KeyActions } from '../service/key-actions.js';
import {
  createKeyBody,
  destroyKeyBody,
  nameParams,
  policySchema,
  revocationParams,
} from '../service/admin-schemas.js';
import { READERS, type ConsoleRouter } from './api.js';

/** A key as the Keys page shows it: no public key material, plus the label URL of an MS DKE key. */
export interface KeyView {
  readonly name: string;
  readonly protocol: string;
  readonly state: string;
  readonly activeVersion: number;
  readonly backend: string | undefined;
  readonly policy: KeyPolicy;
  readonly versions: readonly {
    readonly version: number;
    readonly keyId: string;
    readonly spec: string;
    readonly backend: string;
    readonly createdAt: string;
    readonly destroyed: boolean;
  }[];
  readonly createdAt: string;
  /** What to enter as the sensitivity label's key URL in Microsoft Purview: public base URL + `/` + name. */
  readonly labelUrl?: string;
}

export function keyView(key: KeyInfo, publicBaseUrl: string): KeyView {
  return {
    name: key.name,
    protocol: key.protocol,
    state: key.state,
    activeVersion: key.activeVersion,
    backend: key.versions.find((v) => v.version === key.activeVersion)?.backend,
    policy: key.policy,
    versions: key.versions.map(({ version, keyId, spec, backend, createdAt, destroyed }) => ({
      version,
      keyId,
      spec,
      backend,
      createdAt,
      destroyed,
    })),
    createdAt: key.createdAt,
    ...(key.protocol === 'ms-dke' ? { labelUrl: `${publicBaseUrl}/${key.name}` } : {}),
  };
}

/** Creating from the console: generated keys only (importing a PEM stays with the CLI and admin API). */
const consoleCreateBody = {
  ...createKeyBody,
  properties: { ...createKeyBody.properties, privateKeyPem: undefined },
} as const;

interface NameParams {
  readonly name: string;
}

export function registerKeysApi(route: ConsoleRouter, actions: KeyActions, publicBaseUrl: string): void {
  const view = (key: KeyInfo): KeyView => keyView(key, publicBaseUrl);
  const nameOf = (params: unknown): string => (params as NameParams).name;

  route({ method: 'GET', url: '/keys', action: 'admin.key.list', roles: READERS }, async ({ who }) => ({
    keys: (await actions.list(who.actor)).map(view),
  }));
  route(
    {
      method: 'POST',
      url: '/keys',
      action: 'admin.key.create',
      roles: ['admin'],
      schema: { body: JSON.parse(JSON.stringify(consoleCreateBody)) as object },
      status: 201,
    },
    async ({ who, request }) => view(await actions.create(who.actor, request.body as CreateKeyRequest)),
  );
  route(
    {
      method: 'POST',
      url: '/keys/:name/rotate',
      action: 'admin.key.rotate',
      roles: ['admin'],
      schema: { params: nameParams },
    },
    async ({ who, request }) => view(await actions.rotate(who.actor, nameOf(request.params), {})),
  );
  for (const [verb, enabled] of [
    ['disable', false],
    ['enable', true],
  ] as const) {
    route(
      {
        method: 'POST',
        url: `/keys/:name/${verb}`,
        action: `admin.key.${verb}`,
        roles: ['admin'],
        schema: { params: nameParams },
      },
      async ({ who, request }) => view(await actions.setEnabled(who.actor, nameOf(request.params), enabled)),
    );
  }
  route(
    {
      method: 'PUT',
      url: '/keys/:name/policy',
      action: 'admin.policy.set',
      roles: ['admin'],
      schema: { params: nameParams, body: policySchema },
    },
    async ({ who, request }) =>
      view(await actions.setPolicy(who.actor, nameOf(request.params), request.body as KeyPolicy)),
  );
  route(
    {
      method: 'PUT',
      url: '/keys/:name/revocations/:objectId',
      action: 'admin.object.revoke',
      roles: ['admin'],
      schema: { params: revocationParams },
    },
    async ({ who, request }) => {
      const { name, objectId } = request.params as { name: string; objectId: string };
      return actions.setRevoked(who.actor, name, objectId, true);
    },
  );
  route(
    {
      method: 'POST',
      url: '/keys/:name/destroy',
      action: 'admin.key.destroy',
      roles: ['admin'],
      schema: { params: nameParams, body: destroyKeyBody },
    },
    async ({ who, request }) =>
      view(
        await actions.destroy(
          who.actor,
          nameOf(request.params),
          (request.body as { confirm: string }).confirm,
        ),
      ),
  );
}
