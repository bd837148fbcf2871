// The rendering library, in one place: Preact with hooks, and htm for templates without a build step.
import { h, render, Component } from "./vendor/preact.js";
import { useState, useEffect, useRef, useMemo, useCallback } from "./vendor/preact-hooks.js";
import htm from "./vendor/htm.js";

export const html = htm.bind(h);
export { h, render, Component, useState, useEffect, useRef, useMemo, useCallback };
