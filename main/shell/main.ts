/**
 * The Electron main process: lifecycle, the one window, the menu, and the IPC
 * binding. Everything else lives in main/console/ and is tested without
 * Electron. Security stance (DESIGN.md section 7): contextIsolation, sandbox,
 * no nodeIntegration, app:// with a strict CSP, navigation and new windows
 * denied, permission requests denied (but desktop notifications for the console's
 * own page: main/console/windowPermissions.ts), devtools only in development.
 */
import { app, BrowserWindow, Menu, session, shell, type MenuItemConstructorOptions } from 'electron';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConsoleBackend, type ConsoleBackend } from '../console/consoleBackend.ts';
import { labControllerConfig } from '../console/labControllerConfig.ts';
import { LabSupervisor } from '../console/labSupervisor.ts';
import { grantPermissionCheck, grantPermissionRequest } from '../console/windowPermissions.ts';
import { controllerApi } from '../protocol/controllerApi.ts';
import { appOrigin, registerAppSchemePrivileges, serveRenderer } from './appScheme.ts';
import { bindConsoleIpc } from './ipcBinding.ts';
import { safeStorageVault } from './safeStorageVault.ts';
import { utilityLauncher } from './utilityLauncher.ts';

const here = dirname(fileURLToPath(import.meta.url));
const isDev = !app.isPackaged && process.env.NODE_ENV === 'development';
let backend: ConsoleBackend | undefined;
let mainWindow: BrowserWindow | undefined;
let lab: LabSupervisor | undefined;

function buildMenu(): void {
  const template: MenuItemConstructorOptions[] = [
    ...(process.platform === 'darwin' ? [{ role: 'appMenu' as const }] : []),
    { role: 'fileMenu' },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [{ role: 'reload' }, { role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }, { type: 'separator' }, { role: 'togglefullscreen' }, ...(isDev ? [{ role: 'toggleDevTools' as const }] : [])],
    },
    { role: 'windowMenu' },
    { role: 'help', submenu: [{ label: 'PacketCloud design (TPDS 2016)', click: () => void shell.openExternal('https://doi.org/10.1109/TPDS.2015.2425401') }] },
  ];
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1400,
    height: 900,
    title: 'PacketCloud Console',
    show: false,
    webPreferences: {
      preload: join(here, '..', 'preload', 'preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      devTools: isDev,
      spellcheck: false,
    },
  });
  window.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  window.webContents.on('will-navigate', (event, url) => {
    if (!url.startsWith(`${appOrigin}/`)) event.preventDefault();
  });
  window.webContents.on('will-redirect', (event, url) => {
    if (!url.startsWith(`${appOrigin}/`)) event.preventDefault();
  });
  window.once('ready-to-show', () => window.show());
  return window;
}

registerAppSchemePrivileges();

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (mainWindow) {
      if (mainWindow.isMinimized()) mainWindow.restore();
      mainWindow.focus();
    }
  });

  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-attach-webview', (event) => event.preventDefault());
  });

  void app.whenReady().then(() => {
    session.defaultSession.setPermissionRequestHandler((_contents, permission, callback, details) =>
      callback(grantPermissionRequest({ permission, requestingUrl: details.requestingUrl, isMainFrame: details.isMainFrame }, appOrigin)),
    );
    session.defaultSession.setPermissionCheckHandler((_contents, permission, requestingOrigin) => grantPermissionCheck({ permission, requestingOrigin }, appOrigin));
    serveRenderer(join(here, '..', 'renderer'));
    buildMenu();
    const dataDir = app.getPath('userData');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    lab = new LabSupervisor({ dataDir, launcher: utilityLauncher, writeControllerConfig: labControllerConfig });
    backend = createConsoleBackend({
      version: app.getVersion(),
      transport: 'electron',
      dataDir,
      vault: safeStorageVault,
      controllerContract: controllerApi,
      lab,
    });
    mainWindow = createWindow();
    const unbind = bindConsoleIpc(mainWindow, backend);
    mainWindow.on('closed', () => {
      unbind();
      mainWindow = undefined;
    });
    void mainWindow.loadURL(`${appOrigin}/index.html`);
    void backend.connectDefault();
  });

  app.on('window-all-closed', () => app.quit());

  let quitting = false;
  app.on('before-quit', (event) => {
    if (quitting || !backend) return;
    // End every terminal this app started before the process goes away.
    event.preventDefault();
    quitting = true;
    void Promise.all([backend.close(), lab?.shutdown()]).finally(() => app.quit());
  });
}
