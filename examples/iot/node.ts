/**
 * What the IoT gateway's sessions share on one node (PROTOCOL.md §6, §9.4, §9.7): who is logged
 * in here (relayers by id, apps by client id and by account), who is logged in on the other nodes
 * (presence on the bus's `o`), the control requests waiting for a relayer's reply, and the event
 * fan-out. One per subscription of the gateway behaviour.
 *
 * Control always goes through the bus, as the book's did: an app's ControlDevice is published to
 * `g/<relayer_id>`, the node holding that relayer sends it on with its own seq and publishes the
 * reply to `h/<client_id>`, and the app's node answers with the app's seq. So one node and many
 * run the same code.
 *
 * @packageDocumentation
 */
import { Subject, type SchedulerLike, type Subscription } from 'rxjs';
import type { WriteCommand } from 'rxnet';
import type { GatewayBus, GatewayBusMessage, GatewaySettings } from './gateway';
import { ERROR_TEXT, type AppIdentity, type StoreCommand } from './handlers';
import { Cmd, isResponse, replyTo, Status, type SbmpBody, type SbmpFrame } from './sbmp';
import { failureReply, intField, textField, type Session } from './session';
import type { DeviceRow } from './store';

/** Presence on `o`: a node's relayers and apps coming and going, and a new node saying hello. */
type Presence =
  | {
      readonly presence: 'relayer';
      readonly node: string;
      readonly relayer_id: number;
      readonly online: boolean;
      /** A reply to a hello: not a new login, so no takeover. */
      readonly announce?: boolean;
    }
  | {
      readonly presence: 'client';
      readonly node: string;
      readonly client_id: number;
      readonly account_id: number;
      readonly online: boolean;
      readonly announce?: boolean;
    }
  | { readonly presence: 'hello'; readonly node: string };

/** The largest seq; the next one is 1 again (§3). */
const MAX_SEQ = 0x7fffffff;

/** A control request of a local app, waiting for a relayer's reply from the bus. */
interface WaitingControl {
  onReply(frame: SbmpFrame): void;
  cancel(): void;
}

export class GatewayNode {
  readonly scheduler: SchedulerLike;
  /** Writes to connections other than the one whose frame caused them (fan-out). */
  readonly outbox = new Subject<WriteCommand<SbmpFrame>>();
  private readonly bus: GatewayBus;
  private busSubscription: Subscription | undefined;

  private readonly relayers = new Map<number, Session>();
  private readonly clients = new Map<number, Session>();
  private readonly accounts = new Map<number, Set<Session>>();
  /** Addresses this node holds on the bus, counted. */
  private readonly held = new Map<string, number>();

  /** Relayers logged in on other nodes: relayer id → node. */
  private readonly remoteRelayers = new Map<number, string>();
  /** Apps logged in on other nodes: account id → client id → node. */
  private readonly remoteClients = new Map<number, Map<number, string>>();

  /** The gateway's own seq for what it sends unasked (notifies), one counter per node. */
  private seq = 0;
  /** Control requests sent on the bus by this node's apps, by the seq they carry on the bus. */
  private readonly waiting = new Map<number, WaitingControl>();
  private busSeq = 0;
  /** Store commands running on this node (§6: over the limit, status 17). */
  private storeRunning = 0;

  constructor(readonly settings: GatewaySettings) {
    this.scheduler = settings.scheduler;
    this.bus = settings.bus;
  }

  get name(): string {
    return this.settings.nodeId;
  }

  log(line: string): void {
    this.settings.log(line);
  }

  /** Starts reading the bus: presence first, then a hello so the other nodes say who they hold. */
  start(): void {
    this.busSubscription = this.bus.messages$.subscribe(({ address, message }) => {
      try {
        this.onBus(address, message);
      } catch (error: unknown) {
        // One bad message must not stop the node's bus.
        this.log(`bus: ${address}: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    this.hold('o');
    this.presence({ presence: 'hello', node: this.name });
  }

  stop(): void {
    this.busSubscription?.unsubscribe();
    this.letGo('o');
    for (const control of [...this.waiting.values()]) control.cancel();
    this.outbox.complete();
  }

  nextSeq(): number {
    this.seq = this.seq >= MAX_SEQ ? 1 : this.seq + 1;
    return this.seq;
  }

  /* Login (§9.4) */

  /** Authorize: a relayer by `sb_code`, an app by user name and password. Never rejects. */
  async authorize(session: Session, frame: SbmpFrame): Promise<void> {
    const body = frame.body ?? {};
    const role = body['terminal_type'];
    try {
      if (role === 'relayer') await this.authorizeRelayer(session, frame, body);
      else if (role === 'human') await this.authorizeApp(session, frame, body);
      else session.reply(frame, Status.LoginFailed, { result: 2, error: ERROR_TEXT.badRole });
    } catch (error: unknown) {
      this.storeFailed(session, frame, error);
    }
  }

  private async authorizeRelayer(
    session: Session,
    frame: SbmpFrame,
    body: SbmpBody,
  ): Promise<void> {
    const sbCode = textField(body, 'sb_code');
    if (sbCode === undefined) {
      session.reply(frame, Status.MissingParameter, { error: ERROR_TEXT.missingParameter });
      return;
    }
    const secret = typeof body['secret'] === 'string' ? body['secret'] : undefined;
    if (!this.settings.knownRelayers(sbCode, secret)) {
      session.reply(frame, Status.LoginFailed, { result: 1, error: ERROR_TEXT.authenticationFail });
      return;
    }
    const relayerId = await this.settings.store.relayerIdForCode(sbCode);
    if (session.ended) return;
    this.leave(session);
    session.loggedIn({ kind: 'relayer', relayerId, sbCode });
    const older = this.relayers.get(relayerId);
    this.relayers.set(relayerId, session);
    this.hold(`g/${relayerId}`);
    session.reply(frame, Status.Ok, { result: 0 });
    this.takeOver(older, session, `relayer ${sbCode} logged in again`);
    this.presence({ presence: 'relayer', node: this.name, relayer_id: relayerId, online: true });
    this.relayerStatus(relayerId, sbCode, true);
  }

  private async authorizeApp(session: Session, frame: SbmpFrame, body: SbmpBody): Promise<void> {
    const userName = body['user_name'];
    const password = body['password'];
    if (typeof userName !== 'string' || typeof password !== 'string') {
      session.reply(frame, Status.MissingParameter, { error: ERROR_TEXT.missingParameter });
      return;
    }
    const { store } = this.settings;
    const account = await store.authenticate(userName, password);
    if (account === undefined) {
      session.reply(frame, Status.LoginFailed, { result: 1, error: ERROR_TEXT.authenticationFail });
      return;
    }
    // The phone: its terminal code, else its push token, else the connection (one client a login).
    const terminalCode =
      textField(body, 'terminal_code') ?? textField(body, 'token') ?? `${this.name}/${session.id}`;
    const client: { terminalCode: string; os?: string; token?: string } = { terminalCode };
    const os = textField(body, 'os');
    const token = textField(body, 'token');
    if (os !== undefined) client.os = os;
    if (token !== undefined) client.token = token;
    const clientId = await store.upsertClient(account.id, client);
    const apartments = await store.listApartments(account.id);
    if (session.ended) return;
    this.leave(session);
    session.loggedIn({ kind: 'app', accountId: account.id, clientId });
    const older = this.clients.get(clientId);
    this.clients.set(clientId, session);
    let sessions = this.accounts.get(account.id);
    if (sessions === undefined) this.accounts.set(account.id, (sessions = new Set()));
    sessions.add(session);
    this.hold(`h/${clientId}`);
    session.reply(frame, Status.Ok, {
      result: 0,
      apartments: apartments.map((apartment) => ({ id: apartment.id })),
    });
    this.takeOver(older, session, `client ${clientId} logged in again`);
    this.presence({
      presence: 'client',
      node: this.name,
      client_id: clientId,
      account_id: account.id,
      online: true,
    });
  }

  /**
   * The same relayer or phone logged in again: the older session is closed gracefully (§9.4). The
   * book left it open (only its map entry was replaced), and so does `--mode book`.
   */
  private takeOver(older: Session | undefined, newer: Session, why: string): void {
    if (older === undefined || older === newer) return;
    if (this.settings.mode === 'rxnet') older.close(`taken over (${why})`);
    else this.detach(older);
  }

  /**
   * A session ended, or logs in again: it lets go of what it held. A session that was taken over
   * holds nothing any more (its successor does), so only its own bus address is let go.
   */
  release(session: Session): void {
    this.leave(session);
    for (const control of [...session.controls]) control.cancel();
  }

  private leave(session: Session): void {
    const role = session.role;
    if (role.kind === 'relayer') {
      this.letGo(`g/${role.relayerId}`);
      if (this.relayers.get(role.relayerId) === session) {
        this.relayers.delete(role.relayerId);
        this.presence({
          presence: 'relayer',
          node: this.name,
          relayer_id: role.relayerId,
          online: false,
        });
        this.relayerStatus(role.relayerId, role.sbCode, false);
      }
    } else if (role.kind === 'app') {
      this.letGo(`h/${role.clientId}`);
      this.accounts.get(role.accountId)?.delete(session);
      if (this.accounts.get(role.accountId)?.size === 0) this.accounts.delete(role.accountId);
      if (this.clients.get(role.clientId) === session) {
        this.clients.delete(role.clientId);
        this.presence({
          presence: 'client',
          node: this.name,
          client_id: role.clientId,
          account_id: role.accountId,
          online: false,
        });
      }
    }
  }

  /** Book mode's takeover: the older session stays open but hears nothing more. */
  private detach(older: Session): void {
    const role = older.role;
    if (role.kind === 'app') this.accounts.get(role.accountId)?.delete(older);
  }

  /* Store-backed commands */

  storeCommand(
    session: Session,
    frame: SbmpFrame,
    command: StoreCommand,
    who: AppIdentity | undefined,
  ): void {
    if (this.storeRunning >= this.settings.maxPendingStoreCommands) {
      session.reply(frame, Status.ServerBusy, { error: ERROR_TEXT.serverBusy });
      return;
    }
    this.storeRunning++;
    const done = session.begin();
    command
      .handle(this.settings.store, who, frame.body ?? {})
      .then(
        (reply) => session.reply(frame, reply.status, reply.body),
        (error: unknown) => this.storeFailed(session, frame, error),
      )
      .finally(() => {
        this.storeRunning--;
        done();
      });
  }

  /** A store operation failed: status 3, and the gateway goes on (§9.6). */
  private storeFailed(session: Session, frame: SbmpFrame, error: unknown): void {
    this.log(`#${session.id} store: ${error instanceof Error ? error.message : String(error)}`);
    session.reply(frame, Status.DatabaseError, { error: ERROR_TEXT.databaseException });
  }

  /* Control: app → relayer (§9.7) */

  /** ControlDevice, QueryDevice, QueryRelayerStatus from an app. */
  control(
    session: Session,
    app: { readonly accountId: number; readonly clientId: number },
    frame: SbmpFrame,
  ): void {
    const done = session.begin();
    this.route(app.accountId, frame)
      .then((route) => {
        if ('relayerIds' in route) {
          this.forward(session, app.clientId, frame, route.relayerIds, route.device, done);
          return;
        }
        session.reply(frame, route.status, route.body);
        done();
      })
      .catch((error: unknown) => {
        this.storeFailed(session, frame, error);
        done();
      });
  }

  /** Which relayers to try, or the status to answer at once. */
  private async route(
    accountId: number,
    frame: SbmpFrame,
  ): Promise<
    | { relayerIds: readonly number[]; device: DeviceRow | undefined }
    | { status: number; body: SbmpBody }
  > {
    const { store, mode } = this.settings;
    const body = frame.body;
    if (frame.commandId === Cmd.QueryRelayerStatus) {
      const relayerId = intField(body, 'relayer_id');
      if (relayerId === undefined)
        return { status: Status.MissingParameter, body: { error: ERROR_TEXT.missingParameter } };
      const accounts = await store.accountsOfRelayer(relayerId);
      if (!accounts.includes(accountId))
        return { status: Status.NoRelayer, body: { error: ERROR_TEXT.noRelayer } };
      return { relayerIds: [relayerId], device: undefined };
    }
    const devCode = textField(body, 'dev_code');
    if (devCode === undefined)
      return { status: Status.MissingParameter, body: { error: ERROR_TEXT.missingParameter } };
    const matches = await store.resolveDevice(accountId, devCode);
    const devModel = textField(body, 'dev_model');
    const match = matches.find((m) => m.device.devModel === devModel) ?? matches[0];
    // The book answers 8 when no relayer of the account serves the code (§10).
    if (match === undefined) {
      return mode === 'book'
        ? { status: Status.RelayerOffline, body: { error: ERROR_TEXT.relayerOffline } }
        : { status: Status.NoDevice, body: { error: ERROR_TEXT.noDevice } };
    }
    if (match.relayerIds.length === 0) {
      return mode === 'book'
        ? { status: Status.RelayerOffline, body: { error: ERROR_TEXT.relayerOffline } }
        : { status: Status.NoRelayer, body: { error: ERROR_TEXT.noRelayer } };
    }
    return { relayerIds: match.relayerIds, device: match.device };
  }

  /**
   * Tries the relayers in turn through the bus until one answers status 0, which becomes the
   * device's main relayer; answers the app with its own seq. A relayer known to be offline is
   * skipped (rxnet mode); when all fail, the last answer stands (8 if none was asked).
   */
  private forward(
    session: Session,
    clientId: number,
    frame: SbmpFrame,
    relayerIds: readonly number[],
    device: DeviceRow | undefined,
    done: () => void,
  ): void {
    let last: { status: number; body?: SbmpBody } = {
      status: Status.RelayerOffline,
      body: { error: ERROR_TEXT.relayerOffline },
    };
    const attempt = (index: number): void => {
      if (session.ended) {
        done();
        return;
      }
      const relayerId = relayerIds[index];
      if (relayerId === undefined) {
        session.reply(frame, last.status, last.body);
        done();
        return;
      }
      if (this.settings.mode === 'rxnet' && !this.relayerOnline(relayerId)) {
        attempt(index + 1);
        return;
      }
      this.busSeq = this.busSeq >= MAX_SEQ ? 1 : this.busSeq + 1;
      const busSeq = this.busSeq;
      const finish = (): void => {
        timer.unsubscribe();
        this.waiting.delete(busSeq);
        session.controls.delete(control);
      };
      const control: WaitingControl = {
        onReply: (reply) => {
          finish();
          if (reply.status !== Status.Ok) {
            last = reply.body === undefined ? { status: reply.status } : reply;
            attempt(index + 1);
            return;
          }
          session.reply(frame, Status.Ok, reply.body);
          done();
          if (device !== undefined && device.relayerId !== relayerId) {
            this.settings.store
              .setMainRelayer(device.id, relayerId)
              .catch((error: unknown) => this.log(`store: setMainRelayer: ${String(error)}`));
          }
        },
        cancel: () => {
          finish();
          done();
        },
      };
      // The relayer's node times out too; this one covers a relayer nobody holds (book: 18, §10).
      const timer = this.scheduler.schedule(() => {
        finish();
        last = { status: Status.RelayerTimeout, body: { error: ERROR_TEXT.relayerTimeout } };
        attempt(index + 1);
      }, this.settings.relayerTimeout);
      this.waiting.set(busSeq, control);
      session.controls.add(control);
      this.bus.publish(`g/${relayerId}`, {
        frame: { ...frame, seq: busSeq },
        from: `h/${clientId}`,
        fromSock: `${this.name}/${session.id}`,
      });
    };
    attempt(0);
  }

  private relayerOnline(relayerId: number): boolean {
    return this.relayers.has(relayerId) || this.remoteRelayers.has(relayerId);
  }

  /** A request for a relayer this node holds: sent on with the relayer's seq, answered on the bus. */
  private toRelayer(relayerId: number, message: GatewayBusMessage): void {
    const answer = (status: number, body?: SbmpBody): void =>
      this.bus.publish(message.from, {
        frame: replyTo(message.frame, status, body),
        from: `g/${relayerId}`,
        fromSock: message.fromSock,
      });
    const session = this.relayers.get(relayerId);
    if (session === undefined) {
      if (this.settings.mode === 'rxnet')
        answer(Status.RelayerOffline, { error: ERROR_TEXT.relayerOffline });
      return;
    }
    session.request(message.frame).subscribe({
      next: (reply) => answer(reply.status, reply.body),
      error: (error: unknown) => {
        const failure = failureReply(error);
        answer(failure.status, failure.body);
      },
    });
  }

  /* Events: relayer → apps (§9.7) */

  /** EventDev from a relayer: acked at once, then fanned out to the apps of its device's accounts. */
  event(
    session: Session,
    relayer: { readonly relayerId: number; readonly sbCode: string },
    frame: SbmpFrame,
  ): void {
    const body = frame.body ?? {};
    const devCode = textField(body, 'dev_code');
    if (devCode === undefined || !('value' in body)) {
      session.reply(frame, Status.MissingParameter, { error: ERROR_TEXT.missingParameter });
      return;
    }
    session.reply(frame, Status.Ok);
    const value = body['value'];
    const keySeq = intField(body, 'dev_key_seq') ?? 0;
    const key = `${devCode}|${keySeq}`;
    const now = this.scheduler.now();
    const last = session.lastEvents.get(key);
    if (
      last !== undefined &&
      last.value === value &&
      now - last.at < this.settings.bufferedStateWindow
    ) {
      return;
    }
    session.lastEvents.set(key, { value, at: now });
    const done = session.begin();
    const { store, mode } = this.settings;
    store
      .eventAudience(relayer.relayerId, devCode)
      .then((audience) => {
        if (audience.length === 0) {
          this.log(
            `#${session.id} event from ${relayer.sbCode} for unknown device ${devCode}: dropped`,
          );
        }
        for (const { device, accountId, armState } of audience) {
          const alarm = this.settings.isAlarm({ device, value, keySeq, armState });
          if (alarm) {
            store
              .recordAlarm({
                accountId,
                apartmentId: device.apartmentId,
                devId: device.id,
                devCode: device.devCode,
                devModel: device.devModel,
                name: device.name,
                at: new Date(now),
              })
              .catch((error: unknown) => this.log(`store: recordAlarm: ${String(error)}`));
          }
          if (mode === 'book' && !alarm) continue;
          this.notify(
            [accountId],
            {
              commandId: Cmd.EventDev,
              status: 0,
              seq: this.nextSeq(),
              body: {
                ...body,
                name: device.name,
                dev_model: device.devModel,
                is_alarm: alarm ? 'True' : 'False',
              },
            },
            `g/${relayer.relayerId}`,
          );
        }
      })
      .catch((error: unknown) => this.log(`#${session.id} store: eventAudience: ${String(error)}`))
      .finally(done);
  }

  /** RelayerStatusNotify (rxnet extension, §9.3) to the apps of the accounts bound to it. */
  private relayerStatus(relayerId: number, sbCode: string, online: boolean): void {
    if (this.settings.mode === 'book') return;
    this.settings.store
      .accountsOfRelayer(relayerId)
      .then((accounts) =>
        this.notify(
          accounts,
          {
            commandId: Cmd.RelayerStatusNotify,
            status: 0,
            seq: this.nextSeq(),
            body: { relayer_id: relayerId, sb_code: sbCode, online },
          },
          `g/${relayerId}`,
        ),
      )
      .catch((error: unknown) => this.log(`store: accountsOfRelayer: ${String(error)}`));
  }

  /**
   * Sends one frame to every online app of these accounts: here, as one write to all of them (the
   * broadcast pattern: one command, one encoding, every receiver); on other nodes, through the
   * bus to each phone's `h/<client_id>`.
   */
  private notify(accountIds: readonly number[], frame: SbmpFrame, from: string): void {
    const to: number[] = [];
    for (const accountId of accountIds) {
      for (const session of this.accounts.get(accountId) ?? []) to.push(session.id);
      for (const [clientId, node] of this.remoteClients.get(accountId) ?? []) {
        this.bus.publish(`h/${clientId}`, { frame, from, fromSock: `${node}/` });
      }
    }
    if (to.length > 0) this.outbox.next({ type: 'write', to, data: frame });
  }

  /* The bus */

  private hold(address: string): void {
    const count = this.held.get(address) ?? 0;
    this.held.set(address, count + 1);
    if (count === 0) this.bus.subscribe(address);
  }

  private letGo(address: string): void {
    const count = this.held.get(address) ?? 0;
    if (count > 1) this.held.set(address, count - 1);
    else if (count === 1) {
      this.held.delete(address);
      this.bus.unsubscribe(address);
    }
  }

  private presence(body: Presence): void {
    this.bus.publish('o', {
      frame: { commandId: Cmd.KeepAlive, status: 0, seq: 0, body },
      from: 'o',
      fromSock: `${this.name}/`,
    });
  }

  private onBus(address: string, message: GatewayBusMessage): void {
    if (address === 'o') {
      this.onPresence(message.frame.body as Presence | undefined);
      return;
    }
    const [kind, idText] = address.split('/');
    const id = Number(idText);
    const frame = message.frame;
    if (kind === 'g' && !isResponse(frame)) {
      this.toRelayer(id, message);
    } else if (kind === 'h' && isResponse(frame)) {
      const control = message.fromSock.startsWith(`${this.name}/`)
        ? this.waiting.get(frame.seq)
        : undefined;
      if (control === undefined)
        this.log(`bus: late reply seq ${frame.seq} on ${address}: dropped`);
      else control.onReply(frame);
    } else if (kind === 'h') {
      const session = this.clients.get(id);
      if (session !== undefined) this.outbox.next({ type: 'write', to: session.id, data: frame });
    }
  }

  private onPresence(body: Presence | undefined): void {
    if (body === undefined || body.node === this.name) return;
    const { mode } = this.settings;
    if (body.presence === 'hello') {
      for (const [relayerId] of this.relayers) {
        this.presence({
          presence: 'relayer',
          node: this.name,
          relayer_id: relayerId,
          online: true,
          announce: true,
        });
      }
      for (const [clientId, session] of this.clients) {
        const role = session.role;
        if (role.kind !== 'app') continue;
        this.presence({
          presence: 'client',
          node: this.name,
          client_id: clientId,
          account_id: role.accountId,
          online: true,
          announce: true,
        });
      }
    } else if (body.presence === 'relayer') {
      if (body.online) {
        this.remoteRelayers.set(body.relayer_id, body.node);
        const local = this.relayers.get(body.relayer_id);
        if (local !== undefined && body.announce !== true && mode === 'rxnet') {
          local.close(`taken over (relayer ${body.relayer_id} logged in on node ${body.node})`);
        }
      } else if (this.remoteRelayers.get(body.relayer_id) === body.node) {
        this.remoteRelayers.delete(body.relayer_id);
      }
    } else if (body.online) {
      let clients = this.remoteClients.get(body.account_id);
      if (clients === undefined) this.remoteClients.set(body.account_id, (clients = new Map()));
      clients.set(body.client_id, body.node);
      const local = this.clients.get(body.client_id);
      if (local !== undefined && body.announce !== true && mode === 'rxnet') {
        local.close(`taken over (client ${body.client_id} logged in on node ${body.node})`);
      }
    } else {
      const clients = this.remoteClients.get(body.account_id);
      if (clients?.get(body.client_id) === body.node) clients.delete(body.client_id);
      if (clients?.size === 0) this.remoteClients.delete(body.account_id);
    }
  }
}
