import{b as c}from"./index-D9P62-mH.js";const e={name:"check",size:24,node:[["path",{d:"M20 6 9 17l-5-5",key:"1gmf2c"}]]};e.node;const a=c(e);export{a as C};
