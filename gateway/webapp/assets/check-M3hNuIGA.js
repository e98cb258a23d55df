import{b as c}from"./index-CwS1Q5-Y.js";const e={name:"check",size:24,node:[["path",{d:"M20 6 9 17l-5-5",key:"1gmf2c"}]]};e.node;const a=c(e);export{a as C};
