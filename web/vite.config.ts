/// <reference types="vitest/config" />
// The app builds into the Python package (gateway/webapp/), so `ragstack serve` on a fresh clone
// serves it with no Node step. The build must be byte-for-byte reproducible: CI rebuilds and fails
// when the committed files differ, so there are no source maps, timestamps or absolute paths, and
// asset names carry content hashes only.
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const outDir = fileURLToPath(new URL("../gateway/webapp", import.meta.url));
// Where `npm run dev` sends API calls: a `ragstack serve` on this machine.
const api = process.env.RAGSTACK_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    target: "es2022",
    reportCompressedSize: true,
    rollupOptions: {
      output: {
        // Libraries change less often than the app: a separate chunk stays cached across releases.
        manualChunks: { vendor: ["react", "react-dom", "react-dom/client", "react-router", "@tanstack/react-query"] },
      },
    },
  },
  server: {
    proxy: { "/v1": { target: api, changeOrigin: false }, "/health": api },
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
