import { createPinia } from 'pinia';
import { createApp } from 'vue';
import '@xterm/xterm/css/xterm.css';
import './styles/theme.css';
import App from './App.vue';
import { connectApi, toApiError } from './api/index.ts';

async function start(): Promise<void> {
  const root = document.getElementById('app');
  if (!root) throw new Error('index.html has no #app element');
  try {
    await connectApi();
  } catch (e) {
    // Nothing else can work without the backend: say what failed and what to try.
    root.innerHTML = '';
    const box = document.createElement('div');
    box.className = 'fatal';
    box.setAttribute('role', 'alert');
    box.textContent = `Cannot reach the console backend: ${toApiError(e).message}`;
    root.append(box);
    return;
  }
  createApp(App).use(createPinia()).mount(root);
}

void start();
